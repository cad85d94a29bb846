"""Importers for public dataset layouts: each turns a user's own copy into a manifest with
view labels, then goes through the normal catalogue import (same validation, same report)."""
from .deepfashion import DEEPFASHION_VIEWS, DeepFashionScan, import_deepfashion, scan_deepfashion

__all__ = ["DEEPFASHION_VIEWS", "DeepFashionScan", "import_deepfashion", "scan_deepfashion"]
