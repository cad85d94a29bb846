"""Outputs for reviewers, sellers and stakeholders: completeness scores (per product and per
catalogue), seller sheets (self-contained HTML, one product or a zip of many) and the seller
hints an analyst edits per pose group."""
from .completeness import Catalogue, Completeness, ExpectedPose, catalogue, explain
from .hints import GroupHint, group_hints, orphan_hints, set_group_hint
from .sheet import SheetBatch, product_sheet, render_sheet, sheet_filename, sheets_zip, subject_ids

__all__ = ["Catalogue", "Completeness", "ExpectedPose", "GroupHint", "SheetBatch", "catalogue", "explain",
           "group_hints", "orphan_hints", "product_sheet", "render_sheet", "set_group_hint", "sheet_filename",
           "sheets_zip", "subject_ids"]
