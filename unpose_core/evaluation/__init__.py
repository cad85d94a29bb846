"""How good are the suggestions: hide-and-complete protocol, metrics, labels, reviewer judgements."""
from .judgements import Judgement, judgement_table, latest_judgement, latest_judgements, load_labels, save_judgement
from .labels import LabelSet, read_labels_file
from .metrics import ratios, score_sets, set_counts
from .protocol import Configuration, EvalOptions, evaluate
from .results import EvalResult, save_result, saved_results

__all__ = ["Configuration", "EvalOptions", "EvalResult", "Judgement", "LabelSet", "evaluate", "judgement_table",
           "latest_judgement", "latest_judgements", "load_labels", "ratios", "read_labels_file", "save_judgement",
           "save_result", "saved_results", "score_sets", "set_counts"]
