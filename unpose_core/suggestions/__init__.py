"""Missing poses for a listing (paper §3.3-3.4, Algorithm 2): records.py (what a suggestion is made
of), rule.py (THE missing-pose rule and the cohort ranking it asks from), suggester.py (the
Suggester: a listing read once, the rule, example images and hints). What an image covers is
``coverage``'s rule, how a listing is read ``listing``'s; the report is ``outputs.report``."""
from .records import (
    BELOW_CONFIDENCE,
    COVERS_EXPECTED,
    MISSING,
    NOTHING_EXPECTED,
    ImageAssignment,
    MissingGroups,
    MissingPose,
    Suggestion,
)
from .rule import confidence, default_groups, missing_groups, rank_cohort
from .suggester import Suggester, suggest_for_product

__all__ = ["BELOW_CONFIDENCE", "COVERS_EXPECTED", "MISSING", "NOTHING_EXPECTED", "ImageAssignment", "MissingGroups",
           "MissingPose", "Suggester", "Suggestion", "confidence", "default_groups", "missing_groups", "rank_cohort",
           "suggest_for_product"]
