"""Unposed engine: find the photos a fashion listing is missing (Sharma & Ahemad, 2022).

Pipeline, one module per stage: catalog -> images -> pose/ -> embed -> cluster -> rank
-> suggest, with store (SQLite) and runs (plain-file artefacts) underneath, and
pipeline.py tying the stages together for the CLI and the app.
"""
__version__ = "0.1.0"
