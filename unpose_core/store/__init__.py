"""The data dir's one SQLite database: the only place in Unposed that speaks SQL."""
from .db import ActiveRunChanged, LabelsChanged, Store, check_backup, restore
from .schema import SCHEMA_VERSION, CorruptDatabase, StoreError

__all__ = ["SCHEMA_VERSION", "ActiveRunChanged", "CorruptDatabase", "LabelsChanged", "Store", "StoreError",
           "check_backup", "restore"]
