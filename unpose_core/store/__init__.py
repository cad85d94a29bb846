"""The data dir's one SQLite database: the only place in Unposed that speaks SQL."""
from .db import ActiveRunChanged, LabelsChanged, Store
from .schema import SCHEMA_VERSION, StoreError

__all__ = ["SCHEMA_VERSION", "ActiveRunChanged", "LabelsChanged", "Store", "StoreError"]
