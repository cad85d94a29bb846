"""Set metrics of the evaluation: the paper's accuracy (recall), precision, F1."""
from __future__ import annotations

ALL = "All"
UNLABELLED = "(unlabelled)"
NO_SUBCATEGORY = "(none)"
METRICS = ("accuracy", "precision", "f1", "purity")
METRIC_TITLES = {"accuracy": "Accuracy", "precision": "Precision", "f1": "F1", "purity": "Purity"}


# -- metrics ---------------------------------------------------------------------------------

def set_counts(truth, predicted) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives) of one predicted set vs one true set."""
    t, p = set(truth), set(predicted)
    return len(t & p), len(p - t), len(t - p)


def ratios(tp: int, fp: int, fn: int) -> dict[str, float]:
    """accuracy (recall, the paper's), precision and F1 from pooled counts; NaN when undefined."""
    acc = tp / (tp + fn) if tp + fn else float("nan")
    prec = tp / (tp + fp) if tp + fp else float("nan")
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
    return {"accuracy": acc, "precision": prec, "f1": f1}


def score_sets(truths, predictions) -> dict[str, float]:
    """Micro-averaged metrics over paired lists of true / predicted sets."""
    tp = fp = fn = 0
    for t, p in zip(truths, predictions, strict=True):
        a, b, c = set_counts(t, p)
        tp, fp, fn = tp + a, fp + b, fn + c
    return {**ratios(tp, fp, fn), "tp": tp, "fp": fp, "fn": fn, "n": len(truths)}


