"""The catalogue stage: manifests in, validated products and images out; who is reference, who is subject."""
from .manifest import ImportReport, ManifestError, import_catalogue, import_into_store, read_manifest
from .selection import Selection, popularity_sort, select_sets

__all__ = ["ImportReport", "ManifestError", "Selection", "import_catalogue", "import_into_store",
           "popularity_sort", "read_manifest", "select_sets"]
