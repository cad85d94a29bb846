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


def precision_at(truth, ranked, k: int) -> tuple[int, int]:
    """(hits, requests) among the first ``k`` of a ranked list of requests against a true set: the
    counts behind precision@k (pooled over trials: sum of hits / sum of requests; a trial asking
    for nothing adds nothing)."""
    top = list(ranked)[:k]
    t = set(truth)
    return sum(1 for p in top if p in t), len(top)


def order_counts(truth, ranked, suffix: str = "") -> dict[str, int]:
    """A trial's precision@1 and precision@3 counts: hit1/n1 and hit3/n3 (+ ``suffix``)."""
    h1, n1 = precision_at(truth, ranked, 1)
    h3, n3 = precision_at(truth, ranked, 3)
    return {f"hit1{suffix}": h1, f"n1{suffix}": n1, f"hit3{suffix}": h3, f"n3{suffix}": n3}


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


