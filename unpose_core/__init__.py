"""Unposed engine: find the photos a fashion listing is missing (Sharma & Ahemad, 2022).

``import unpose_core as up`` gives the main verbs (see :mod:`unpose_core.api`):
``up.import_catalogue``, ``up.install_demo``, ``up.extract``, ``up.train``, ``up.suggest``,
``up.report``, ``up.evaluate``, ``up.load_run``, ``up.open_store``.

The stages, following the data (each a module or package, lower layers never import
higher ones — tests/test_layers.py): catalog -> pose -> embed -> cluster -> rank -> runs
-> descriptions -> groups -> training / suggest -> evaluation -> jobs / app_tables, over store
(the only SQL) and records (the typed rows and statuses they exchange).
"""
from ._version import __version__
from .api import evaluate, extract, import_catalogue, install_demo, load_run, open_store, report, suggest, train

__all__ = ["__version__", "evaluate", "extract", "import_catalogue", "install_demo", "load_run", "open_store",
           "report", "suggest", "train"]
