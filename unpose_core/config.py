"""Where data lives and what a training run is configured with."""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

DATA_DIR_ENV = "UNPOSED_DATA_DIR"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """--data-dir, else $UNPOSED_DATA_DIR, else ~/.unposed (one place per user)."""
    raw = data_dir or os.environ.get(DATA_DIR_ENV) or Path.home() / ".unposed"
    path = Path(raw).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class PoseOptions:
    """What a backend needs to know; extra keys go in ``params`` (e.g. a checkpoint path)."""

    backend: str = "blazepose"
    min_detection_confidence: float = 0.5
    params: dict = field(default_factory=dict)


@dataclass
class SelectionConfig:
    """Paper §3.1 / §4.1: reference = popular products with rich image sets; subject = sparse ones."""

    top_k: int = 3000
    min_images: int = 9          # reference products have MORE than this many images
    subject_max_images: int = 5  # subject products have FEWER than this (the paper's p)
    popularity_order: tuple[str, ...] = ("avg_rating", "n_ratings")

    def validate(self) -> None:
        if self.top_k < 1:
            raise ValueError("top_k must be at least 1")
        if self.min_images < 0 or self.subject_max_images < 1:
            raise ValueError("min_images must be >= 0 and subject_max_images >= 1")
        if not self.popularity_order:
            raise ValueError("popularity_order needs at least one column")


@dataclass
class TrainConfig:
    backend: str = "blazepose"
    k: int = 8
    seed: int = 0
    niter: int = 50
    nredo: int = 3
    autoencoder: bool = False
    # popularity target: weighted mean of normalised rating and normalised log(1 + n_ratings)
    rating_weight: float = 0.5
    count_weight: float = 0.5
    # a pose is "expected" in a cohort when at least this share of its reference products show it.
    # 0.4 on the demo (`unposed evaluate --min-share`): 0.25 -> accuracy 0.85, precision 0.51;
    # 0.4 -> 0.83 / 0.57 (F1 0.63 -> 0.67); 0.55 -> 0.79 / 0.66, but poses that only half of
    # the top listings show (often the ones that sell) start to drop out.
    min_cohort_share: float = 0.4
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    autoencoder_params: dict = field(default_factory=dict)
    # a pose and its mirror image (left- vs right-facing profile) show a garment the same
    # way: a listing with one is not asked for the other
    mirror_equivalent: bool = True
    # passed to the pose backend, e.g. {"model": "<name from `unposed models list`>"}
    backend_params: dict = field(default_factory=dict)

    def pose_options(self) -> PoseOptions:
        return PoseOptions(backend=self.backend, params=dict(self.backend_params))

    def validate(self) -> None:
        if self.k < 1:
            raise ValueError(f"k must be at least 1 (got {self.k})")
        if self.rating_weight < 0 or self.count_weight < 0 or self.rating_weight + self.count_weight == 0:
            raise ValueError("popularity weights must be >= 0 and not both 0")
        if not 0 <= self.min_cohort_share <= 1:
            raise ValueError("min_cohort_share must be within [0, 1]")
        self.selection.validate()

    def to_dict(self) -> dict:
        d = asdict(self)
        d["selection"]["popularity_order"] = list(self.selection.popularity_order)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        d = dict(d)
        sel = dict(d.pop("selection", {}))
        if "popularity_order" in sel:
            sel["popularity_order"] = tuple(sel["popularity_order"])
        known = {f for f in cls.__dataclass_fields__}
        return cls(selection=SelectionConfig(**sel), **{k: v for k, v in d.items() if k in known})
