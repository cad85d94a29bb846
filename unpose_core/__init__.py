"""Unposed engine: find the photos a fashion listing is missing (Sharma & Ahemad, 2022).

``import unpose_core as up`` gives the main verbs (see :mod:`unpose_core.api`):
``up.import_catalogue``, ``up.install_demo``, ``up.extract``, ``up.train``, ``up.suggest``,
``up.report``, ``up.evaluate``, ``up.load_run``, ``up.open_store``, and one function for each
other capability the CLI and the app's jobs use (runs, descriptions, groups, hints, sheets,
views, models, status).

The stages, following the data (each a module or package, lower layers never import
higher ones — tests/test_layers.py): catalog -> pose -> embed -> cluster -> rank -> runs
-> descriptions -> groups -> training / suggest -> evaluation / outputs -> api / app_tables
-> jobs / cli (clients of the API), over store (the only SQL) and records (the typed rows and statuses they exchange).
"""
from . import api
from ._version import __version__
from .api import *  # noqa: F403  (the public verbs: api.__all__)

__all__ = ["__version__", *api.__all__]
