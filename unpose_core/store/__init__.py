"""The data dir's one SQLite database: the only place in Unposed that speaks SQL."""
from .db import SCHEMA_VERSION, Store

__all__ = ["SCHEMA_VERSION", "Store"]
