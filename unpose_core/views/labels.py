"""View labels: a person's or a catalogue's statement about what one photo shows, and the one
vocabulary that turns a catalogue's own words into facing, framing and kind.

A label names an image by its content hash (so it survives re-imports and retrains) and says
any of: ``facing`` (a :class:`Facing` value, or a side-less ``three_quarter`` / ``profile``:
a catalogue's "side" rarely says which side), ``framing`` (a :class:`Framing` value), ``kind``
(an :class:`ImageKind` value) or ``no_pose`` ("no pose visible": a person may be there, but no
pose can be read). Each carries its ``source`` (:class:`LabelSource`), user and time.

Words -> label (:func:`parse_words`): the words are lower-cased and split on anything but
letters and digits; phrases of the vocabulary ("full length", "flat lay", "size chart") are
matched first, longest first, then single words. The built-in vocabulary
(:data:`BUILTIN_VOCABULARY`) covers common shop words and DeepFashion's (front, side, back,
full, flat, additional); an edited mapping (stored per data dir) adds words or overrides them.
"left"/"right" give a three-quarter or profile view its side (the subject's side that faces
the camera, as :mod:`views.vocab` names it). Words the vocabulary does not know are ignored;
text with no known word gives no label.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from enum import StrEnum

from .vocab import Facing, Framing, ImageKind

__all__ = ["BUILTIN_VOCABULARY", "COARSE_FACINGS", "LabelSource", "ViewLabel", "WordMeaning", "coarse_facing",
           "current_labels", "facing_matches", "filename_words", "label_from_words", "merge_vocabulary",
           "parse_words"]

COARSE_FACINGS: tuple[str, ...] = ("front", "three_quarter", "profile", "back")
_FACING_VALUES = {str(f) for f in Facing} | set(COARSE_FACINGS)


def coarse_facing(facing: str | None) -> str | None:
    """front / three_quarter / profile / back: the facing without its side."""
    if facing is None:
        return None
    f = str(facing)
    for side in ("_left", "_right"):
        if f.endswith(side):
            return f[: -len(side)]
    return f


def facing_matches(label: str | None, reading: str | None) -> bool | None:
    """Whether a reading agrees with a label (a side-less label agrees with either side);
    None when the label says nothing."""
    if label is None:
        return None
    if reading is None:
        return False
    return label == reading if label in {str(f) for f in Facing} else coarse_facing(reading) == label


class LabelSource(StrEnum):
    """Where a label came from. People (analyst, reviewer) outrank the catalogue's own words
    (a manifest column, file-name words): a re-import never overrides a person."""

    MANIFEST = "manifest"      # a pose_label / view / shot column of the catalogue
    FILENAME = "filename"      # words in the image's file name (opt-in)
    ANALYST = "analyst"        # someone labelling views (CLI, API, the app's labelling queue)
    REVIEWER = "reviewer"      # a reviewer judging suggestions

    @property
    def rank(self) -> int:
        return 1 if self in (LabelSource.ANALYST, LabelSource.REVIEWER) else 0


@dataclass(frozen=True)
class WordMeaning:
    """What one word or phrase says; None = says nothing about that part."""

    facing: str | None = None
    framing: str | None = None
    kind: str | None = None
    no_pose: bool = False
    side: str | None = None      # "left" / "right": the side of a three-quarter or profile view

    def __post_init__(self):
        _check(self.facing, self.framing, self.kind)
        if self.side not in (None, "left", "right"):
            raise ValueError(f"side must be left or right, not {self.side!r}")

    @property
    def empty(self) -> bool:
        return not (self.facing or self.framing or self.kind or self.no_pose or self.side)

    def to_dict(self) -> dict:
        return asdict(self)


def _check(facing, framing, kind) -> None:
    if facing is not None and facing not in _FACING_VALUES:
        raise ValueError(f"unknown facing {facing!r}: use one of {sorted(_FACING_VALUES)}")
    if framing is not None and framing not in {str(f) for f in Framing}:
        raise ValueError(f"unknown framing {framing!r}: use one of {[str(f) for f in Framing]}")
    if kind is not None and kind not in {str(k) for k in ImageKind}:
        raise ValueError(f"unknown kind {kind!r}: use one of {[str(k) for k in ImageKind]}")


def _m(**kw) -> WordMeaning:
    return WordMeaning(**kw)


_FRONT, _BACK, _TQ, _PROFILE = _m(facing="front"), _m(facing="back"), _m(facing="three_quarter"), \
    _m(facing="profile")
_FULL, _UPPER, _KNEE, _CLOSE = _m(framing="full_length"), _m(framing="upper_body"), \
    _m(framing="three_quarter"), _m(framing="close_up")
_FLAT, _CHART, _FABRIC = _m(kind="flat_lay"), _m(kind="size_chart"), _m(kind="fabric")

# word or phrase (lower case, words separated by one space) -> meaning
BUILTIN_VOCABULARY: dict[str, WordMeaning] = {
    # facing
    "front": _FRONT, "frontal": _FRONT, "model front": _FRONT,
    "back": _BACK, "rear": _BACK, "behind": _BACK, "reverse": _BACK,
    "side": _PROFILE, "profile": _PROFILE, "lateral": _PROFILE, "sideview": _PROFILE,
    "three quarter": _TQ, "threequarter": _TQ, "3 4": _TQ, "34": _TQ, "quarter": _TQ, "angle": _TQ,
    "angled": _TQ, "half turn": _TQ,
    "left": _m(side="left"), "right": _m(side="right"),
    # framing
    "full": _FULL, "full length": _FULL, "fulllength": _FULL, "full body": _FULL, "fullbody": _FULL,
    "far": _FULL, "whole": _FULL, "head to toe": _FULL,
    "upper": _UPPER, "upper body": _UPPER, "half": _UPPER, "half body": _UPPER, "waist": _UPPER,
    "torso": _UPPER, "top half": _UPPER,
    "three quarter length": _KNEE, "knee": _KNEE, "knee length": _KNEE, "thigh": _KNEE,
    "close up": _CLOSE, "closeup": _CLOSE, "close": _CLOSE, "detail": _CLOSE, "details": _CLOSE,
    "zoom": _CLOSE, "zoomed": _CLOSE, "portrait": _CLOSE, "headshot": _CLOSE,
    "crop": _CLOSE, "cropped": _CLOSE, "additional": _CLOSE,
    # kinds without a person
    "flat": _FLAT, "flat lay": _FLAT, "flatlay": _FLAT, "laydown": _FLAT, "lay down": _FLAT,
    "packshot": _FLAT, "product": _FLAT, "product only": _FLAT, "ghost": _FLAT, "mannequin": _FLAT,
    "hanger": _FLAT, "still life": _FLAT,
    "size chart": _CHART, "chart": _CHART, "sizing": _CHART, "size guide": _CHART,
    "measurements": _CHART,
    "fabric": _FABRIC, "texture": _FABRIC, "swatch": _FABRIC, "material": _FABRIC, "macro": _FABRIC,
    # a person is (maybe) there, but no pose can be read
    "no pose": _m(no_pose=True), "no pose visible": _m(no_pose=True), "nopose": _m(no_pose=True),
}

_TOKEN = re.compile(r"[^\W_]+")   # letters and digits of any script


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(str(text).lower().replace("3/4", "3 4"))


def merge_vocabulary(edits: Mapping[str, WordMeaning | None] | None = None) -> dict[str, WordMeaning]:
    """The built-in vocabulary with edits applied (None removes a word)."""
    vocab = dict(BUILTIN_VOCABULARY)
    for word, meaning in (edits or {}).items():
        key = " ".join(_tokens(word))
        if not key:
            continue
        if meaning is None or meaning.empty:
            vocab.pop(key, None)
        else:
            vocab[key] = meaning
    return vocab


@dataclass(frozen=True)
class ViewLabel:
    """One statement about one image (see the module doc). ``words``: the catalogue's own
    words it was read from, when it came from them."""

    content_hash: str
    facing: str | None = None
    framing: str | None = None
    kind: str | None = None
    no_pose: bool = False
    source: LabelSource = LabelSource.ANALYST
    user: str | None = None
    created_at: float | None = None
    words: str | None = None
    note: str | None = None
    id: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "source", LabelSource(self.source))
        _check(self.facing, self.framing, self.kind)
        if self.kind not in (None, str(ImageKind.PERSON)) and (self.facing or self.framing):
            raise ValueError(f"an image of kind {self.kind} shows no person: it has no facing or framing")

    @property
    def empty(self) -> bool:
        return not (self.facing or self.framing or self.kind or self.no_pose)

    @property
    def is_person(self) -> bool | None:
        """True / False when the label says whether a person's pose shows, else None."""
        if self.no_pose or (self.kind is not None and self.kind != str(ImageKind.PERSON)):
            return False
        if self.kind == str(ImageKind.PERSON) or self.facing or self.framing:
            return True
        return None

    def same_view(self, other: ViewLabel | None) -> bool:
        return other is not None and (self.facing, self.framing, self.kind, self.no_pose) == \
            (other.facing, other.framing, other.kind, other.no_pose)

    def merged_over(self, older: ViewLabel | None) -> ViewLabel:
        """This label with the parts it leaves open taken from ``older`` (same image): a person
        who corrects only the facing keeps the framing; a kind without a person clears both."""
        if older is None:
            return self
        if self.no_pose or (self.kind is not None and self.kind != str(ImageKind.PERSON)):
            return self
        kind = self.kind or (older.kind if older.kind == str(ImageKind.PERSON) else None)
        return replace(self, facing=self.facing or older.facing, framing=self.framing or older.framing,
                       kind=kind)

    @property
    def text(self) -> str:
        if self.no_pose:
            return "no pose visible"
        if self.kind and self.kind != str(ImageKind.PERSON):
            return ImageKind(self.kind).text
        parts = [p.replace("_", " ") for p in (self.facing, self.framing) if p]
        return ", ".join(parts) or "person"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["source"] = str(self.source)
        d["text"] = self.text
        return d


def parse_words(text, vocabulary: Mapping[str, WordMeaning] | None = None) -> WordMeaning | None:
    """What a catalogue's words say (see the module doc); None when no word is known or the
    words contradict each other on a part (e.g. "front back")."""
    if text is None or (isinstance(text, float) and text != text):
        return None
    vocab = BUILTIN_VOCABULARY if vocabulary is None else vocabulary
    toks = _tokens(str(text))
    if not toks:
        return None
    longest = max((len(w.split()) for w in vocab), default=1)
    found: list[WordMeaning] = []
    i = 0
    while i < len(toks):
        for n in range(min(longest, len(toks) - i), 0, -1):
            m = vocab.get(" ".join(toks[i:i + n]))
            if m is not None:
                found.append(m)
                i += n
                break
        else:
            i += 1
    if not found:
        return None
    parts: dict[str, set] = {"facing": set(), "framing": set(), "kind": set(), "side": set()}
    no_pose = False
    for m in found:
        for k in parts:
            v = getattr(m, k)
            if v:
                parts[k].add(v)
        no_pose |= m.no_pose
    if any(len(v) > 1 for v in parts.values()):
        return None
    one = {k: next(iter(v)) if v else None for k, v in parts.items()}
    facing, side = one["facing"], one["side"]
    if side is not None:
        if facing is None:   # "left" alone: a side view of that side
            facing = "profile"
        if facing in ("three_quarter", "profile"):
            facing = f"{facing}_{side}"
    kind = one["kind"]
    if kind is not None and kind != str(ImageKind.PERSON):
        facing, framing = None, None
    else:
        framing = one["framing"]
    meaning = WordMeaning(facing, framing, kind, no_pose)
    return None if meaning.empty else meaning


def filename_words(path: str) -> str:
    """The words of a file name without folder and extension: ``img/12_back_full.jpg`` ->
    ``12 back full`` (parsed with :func:`parse_words` where a catalogue opts in)."""
    name = str(path).replace("\\", "/").rsplit("/", 1)[-1]
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return " ".join(_tokens(stem))


def label_from_words(content_hash: str, words, source: LabelSource, vocabulary=None,
                     user: str | None = None) -> ViewLabel | None:
    """A label from a catalogue's words, or None when they say nothing."""
    m = parse_words(words, vocabulary)
    if m is None:
        return None
    return ViewLabel(content_hash, m.facing, m.framing, m.kind, m.no_pose, source, user,
                     words=str(words))


def current_labels(history: Iterable[ViewLabel]) -> dict[str, ViewLabel]:
    """content hash -> the label in force: people's labels outrank the catalogue's own words,
    later outranks earlier within one rank; history in insertion order."""
    out: dict[str, ViewLabel] = {}
    for lab in history:
        old = out.get(lab.content_hash)
        if old is None or lab.source.rank >= old.source.rank:
            out[lab.content_hash] = lab
    return out
