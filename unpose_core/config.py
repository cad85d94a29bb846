"""Where data lives and what a training run is configured with."""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from itertools import product
from pathlib import Path

DATA_DIR_ENV = "UNPOSED_DATA_DIR"
RATING_SCALE = 5.0      # a catalogue's avg_rating lies within 0..RATING_SCALE unless its import says otherwise
N_REFERENCES = 3        # example images per missing pose: suggestions, seller sheets, the CLI
ENGINES = ("local", "ray")   # what fills the pose cache (pose.engines), the first the default
MERGE_SEPARATION = 2.0  # groups: propose a merge below this separation (a data dir may set its own)
# the order of the requests in words (suggestions.rule.expected_value), on every surface
ORDER_TEXT = ("expected value: the pose's importance for the cohort x the share of its top listings showing it "
              "x the request's confidence")


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
    # pose clusters: 14 from the demo sweep (README, "Choices"): recall rises to K=14 and is flat
    # to 16, precision stays level; the Tune K page measures it for your catalogue
    k: int = 14
    seed: int = 0
    niter: int = 50
    nredo: int = 3
    autoencoder: bool = False
    # append the view dimensions (facing, framing: embed/views.py) to the pose embedding, so
    # K-Means clusters by view; False keeps the paper's embedding alone (77 BlazePose dims)
    views: bool = True
    # popularity target: weighted mean of normalised rating and normalised log(1 + n_ratings)
    rating_weight: float = 0.5
    count_weight: float = 0.5
    # an absolute floor under the calibrated "expected" rule (SuggestConfig.expect): a pose is
    # expected only when at least this share of a cohort's top products show it. Off (0) by
    # default: an absolute share assumes reference listings with many images (runs trained
    # before the calibrated rule stored 0.4 here and keep it, see SuggestConfig.min_share)
    min_cohort_share: float = 0.0
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
    def from_dict(cls, d: dict) -> TrainConfig:
        d = dict(d)
        sel = dict(d.pop("selection", {}))
        if "popularity_order" in sel:
            sel["popularity_order"] = tuple(sel["popularity_order"])
        known = set(cls.__dataclass_fields__)
        return cls(selection=SelectionConfig(**sel), **{k: v for k, v in d.items() if k in known})


@dataclass
class SuggestConfig:
    """How a listing's missing poses are decided (suggestions.missing_groups); no retraining needed.

    expect
        Calibrated expectation: a pose group is *expected* in a cohort when its support (the
        share of the cohort's top products showing it) is at least ``expect`` x the cohort's
        typical support, i.e. the mean support of the groups its top products show (= mean
        distinct groups per top product / number of groups shown). Relative, so it does not
        shrink to nothing when reference listings are small.
    min_share
        An absolute floor on the support as well (None: the run's ``min_cohort_share``, 0 for
        runs trained with the calibrated rule).
    coverage_percentile
        Soft coverage: an image covers a pose cluster when its distance to the centroid is
        within this percentile of the cluster's member distances (the "typical radius",
        stored with the run), even if another centroid is nearer. 0: nearest centroid only.
    by_score
        Also expect a group the ranker scores above the cohort's baseline (the support-weighted
        mean score of the groups its top products show), when at least two top products show
        it: the poses that go with popularity, even when fewer listings have them.
    score_ranks
        With ``by_score``, only the ranker's first ``score_ranks`` groups of the cohort can be
        expected by their score (1: the pose the ranker puts first is never dropped for its low
        support); 0: every group scored above the baseline.
    min_confidence
        Suggestions below this confidence (0..1: closeness of the listing's nearest image x
        stability of the group's support) are left out; 0 keeps all.
    also_below
        Requests under this confidence go to "also worth trying", below the main list (with the
        requests expected only by the score rule, ``score_ranks``): the main list holds what the
        catalogue surely expects and the listing surely lacks. Both parts are ordered by expected
        value (``suggestions.rule.expected_value``). 0.2 from the demo sweep (README, "Choices").
    min_cohort_products
        A cohort with fewer top products than this is too thin: its parent cohort is used.
    view_share
        View coverage: a person image also covers every pose cluster whose reference images
        mostly show the image's own view (facing and framing, e.g. "back, full length"): at
        least this share of them, whichever centroid the image is nearest. 0: off.
    view_confidence
        The image's facing and framing confidence (the lower of the two) needed for view
        coverage: an unsure reading covers nothing beyond its pose.
    """

    # expect 0.55, view_share 0.5, score_ranks 1: chosen from the demo sweep (README, "Choices")
    expect: float = 0.55
    min_share: float | None = None
    coverage_percentile: float = 50.0
    by_score: bool = True
    score_ranks: int = 1
    min_confidence: float = 0.0
    also_below: float = 0.2
    min_cohort_products: int = 3
    view_share: float = 0.5
    view_confidence: float = 0.5

    def validate(self) -> None:
        if not 0 <= self.expect <= 10:
            raise ValueError(f"expect must be within [0, 10] (x the cohort's typical support), got {self.expect}")
        if self.min_share is not None and not 0 <= self.min_share <= 1:
            raise ValueError("min_share must be within [0, 1]")
        if not 0 <= self.coverage_percentile <= 100:
            raise ValueError("coverage_percentile must be within [0, 100] (0 = nearest centroid only)")
        if self.score_ranks < 0:
            raise ValueError("score_ranks must be >= 0 (0 = every group scored above the baseline)")
        if not 0 <= self.min_confidence <= 1:
            raise ValueError("min_confidence must be within [0, 1]")
        if not 0 <= self.also_below <= 1:
            raise ValueError("also_below must be within [0, 1] (0 = no confidence floor on the main list)")
        if self.min_cohort_products < 1:
            raise ValueError("min_cohort_products must be at least 1")
        if not 0 <= self.view_share <= 1:
            raise ValueError("view_share must be within [0, 1] (0 = no view coverage)")
        if not 0 <= self.view_confidence <= 1:
            raise ValueError("view_confidence must be within [0, 1]")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> SuggestConfig:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in (d or {}).items() if k in known})

    def score_text(self) -> str:
        """The by-score part of the rule in words ('' when off), within :meth:`rule_text`."""
        if not self.by_score:
            return ""
        if self.score_ranks == 1:
            return "the pose the ranker puts first when it scores it above the cohort's baseline"
        which = "any pose" if self.score_ranks == 0 else f"any of the ranker's first {self.score_ranks} poses"
        return f"{which} the ranker scores above the cohort's baseline"

    def rule_text(self) -> str:
        """The whole rule and its thresholds in words (a Suggestion's ``settings`` give the ones it
        used): the one text the CLI prints and the app shows under a suggestion."""
        parts = [f"expected: a pose group shown by at least {self.expect:g} × the cohort's typical support"
                 + (f" and {self.min_share:.0%}" if self.min_share else "")
                 + (f", or {score}" if (score := self.score_text()) else ""),
                 (f"an image covers every pose whose p{self.coverage_percentile:g} radius it lies within"
                  if self.coverage_percentile else "an image covers only its nearest pose")]
        if self.view_share:
            parts.append(f"and every pose whose reference photos show its facing and framing "
                         f"(at least {self.view_share:.0%} of them)")
        if self.min_confidence:
            parts.append(f"requests below confidence {self.min_confidence:g} left out")
        weak = ([f"under confidence {self.also_below:g}"] if self.also_below else []) \
            + (["expected only for its score"] if self.by_score else [])
        parts.append(f"requests in order of {ORDER_TEXT}"
                     + (f"; {' or '.join(weak)}: also worth trying" if weak else ""))
        return "; ".join(parts)

    def label(self) -> str:
        """Short text for tables: 'expect 0.75x, radius p90, conf >= 0'."""
        cov = f"radius p{self.coverage_percentile:g}" if self.coverage_percentile > 0 else "nearest only"
        out = f"expect {self.expect:g}x, {cov}"
        if self.min_confidence > 0:
            out += f", conf >= {self.min_confidence:g}"
        if self.min_share:
            out += f", share >= {self.min_share:g}"
        if self.also_below != SuggestConfig.also_below:
            out += f", main >= {self.also_below:g}"
        if not self.by_score:
            out += ", support only"
        elif self.score_ranks != 1:
            out += f", score: {'any rank' if self.score_ranks == 0 else f'first {self.score_ranks}'}"
        if self.view_share > 0:
            out += f", views >= {self.view_share:g}"
        return out


@dataclass
class EvalOptions:
    """The hide-and-complete evaluation's settings (evaluation.protocol; `unposed evaluate`)."""

    k: int | None = None            # None: the active run's K, else TrainConfig().k
    ks: list[int] | None = None     # a K sweep (overrides k): one run per K and seed
    expect: list[float] | None = None            # SuggestConfig.expect values to sweep (None: the default)
    coverage: list[float] | None = None          # SuggestConfig.coverage_percentile values
    min_confidence: list[float] | None = None    # SuggestConfig.min_confidence values
    by_score: list[bool] | None = None           # SuggestConfig.by_score values
    view_share: list[float] | None = None        # SuggestConfig.view_share values (0 = no view coverage)
    score_ranks: list[int] | None = None         # SuggestConfig.score_ranks values (0 = any rank)
    also_below: list[float] | None = None        # SuggestConfig.also_below values (the main list's confidence floor)
    seeds: int = 3
    first_seed: int = 0
    holdout: float = 0.25           # share of labelled reference products held out per seed
    keep_min: int = 2
    keep_max: int = 4               # the paper's p - 1
    draws: int = 5                  # kept subsets per product and seed
    answer_min: int | None = None   # answer keys: products with at least this many images (None: the selection's p)
    base: TrainConfig | None = None  # None: the active run's config (selection, min share ...)

    def validate(self) -> None:
        if self.seeds < 1:
            raise ValueError("seeds must be at least 1")
        if self.first_seed < 0:
            raise ValueError("first_seed must be >= 0")
        if not 0 <= self.holdout < 1:
            raise ValueError("holdout must be within [0, 1)")
        if self.keep_min < 1 or self.keep_max < self.keep_min:
            raise ValueError("need 1 <= keep_min <= keep_max")
        if self.draws < 1:
            raise ValueError("draws must be at least 1")
        if self.answer_min is not None and self.answer_min < 2:
            raise ValueError("answer_min must be at least 2 (a listing needs an image to keep and one to hide)")
        if self.k is not None and self.k < 1:
            raise ValueError("k must be at least 1")
        if self.ks is not None and (not self.ks or min(self.ks) < 1):
            raise ValueError("every K of the sweep must be at least 1")
        for s in self.settings():
            s.validate()

    def settings(self) -> list[SuggestConfig]:
        """Every suggestion setting of the sweep (expect x coverage x min_confidence x by_score x
        view_share x score_ranks x also_below), the first one primary; score_ranks only varies with
        by_score on."""
        d = SuggestConfig()
        out = []
        for e, c, m, b, v, r, a in product(self.expect or [d.expect], self.coverage or [d.coverage_percentile],
                                           self.min_confidence or [d.min_confidence],
                                           self.by_score if self.by_score is not None else [d.by_score],
                                           self.view_share if self.view_share is not None else [d.view_share],
                                           self.score_ranks if self.score_ranks is not None else [d.score_ranks],
                                           self.also_below if self.also_below is not None else [d.also_below]):
            s = SuggestConfig(expect=float(e), coverage_percentile=float(c), min_confidence=float(m), by_score=bool(b),
                              view_share=float(v), score_ranks=int(r) if b else d.score_ranks, also_below=float(a))
            if s not in out:
                out.append(s)
        return out
