"""Reference and subject products (paper §3.1 / §4.1): who the system learns from, who it helps."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..config import SelectionConfig


@dataclass
class Selection:
    reference_ids: list[str]
    subject_ids: list[str]
    n_candidates: int            # products with more than min_images images
    image_counts: dict[str, int]

    def counts(self) -> dict[str, int]:
        return {"reference": len(self.reference_ids), "subject": len(self.subject_ids),
                "rich_candidates": self.n_candidates, "products": len(self.image_counts)}


def popularity_sort(products: pd.DataFrame, order: tuple[str, ...]) -> pd.DataFrame:
    """Most popular first by the configured columns (missing values last), ties by id."""
    unknown = [c for c in order if c not in products.columns]
    if unknown:
        raise ValueError(f"popularity column(s) not in catalogue: {', '.join(unknown)}")
    keys = [pd.to_numeric(products[c], errors="coerce").fillna(-np.inf) for c in order]
    tmp = products.assign(**{f"_k{i}": k for i, k in enumerate(keys)})
    return tmp.sort_values([f"_k{i}" for i in range(len(order))] + ["product_id"],
                           ascending=[False] * len(order) + [True], kind="stable").drop(
        columns=[f"_k{i}" for i in range(len(order))])


def select_sets(products: pd.DataFrame, images: pd.DataFrame, cfg: SelectionConfig) -> Selection:
    cfg.validate()
    counts = images.groupby("product_id").size().to_dict() if len(images) else {}
    n_img = products["product_id"].map(lambda p: counts.get(p, 0))
    rich = popularity_sort(products[n_img > cfg.min_images], cfg.popularity_order)
    reference = rich["product_id"].head(cfg.top_k).tolist()
    subject = products.loc[(n_img < cfg.subject_max_images) & (n_img > 0), "product_id"].tolist()
    return Selection(reference, sorted(subject), len(rich),
                     {p: int(counts.get(p, 0)) for p in products["product_id"]})
