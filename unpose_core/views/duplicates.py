"""Near-duplicate images within one listing, from the perceptual hashes stored per image.

A near-duplicate is the same photo again: re-encoded, resized, slightly cropped or with its
colours nudged. Two different photos of the same product (another pose, another view, the
same view re-shot) are not duplicates. The hash compared is ``measure_image``'s ``phash`` and
``dhash`` concatenated (128 bits; the distance is the sum of both distances) and
``DUPLICATE_MAX_DISTANCE`` the largest distance between duplicates; both were chosen with
``benchmarks/bench_duplicates.py`` (table in ``benchmarks/README.md``). On 116 base images
(renders, photos, assets/views) x 14 edits vs 6670 pairs of different images, distance <= 20
gives precision 0.995 and recall 0.933, better than pHash alone at the same precision (<= 8:
0.997 / 0.900) or recall (<= 10: 0.993 / 0.930). Every JPEG q40-70, 0.5x/0.75x resize,
brightness, saturation and hue edit is found; crops are the weak spot (3 % 0.98, 5 % 0.80,
8 % 0.28: a global hash moves with the frame). The only false duplicates are the same figure
seen from the opposite side (front vs back, left vs right profile: mirrored silhouettes).

Grouping is single-linkage: if A~B and B~C, A, B and C form one group even when A and C are
farther apart (a chain of small edits of one photo).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

DUPLICATE_HASH_KEYS = ("phash", "dhash")   # measure_image keys concatenated into the compared hash
DUPLICATE_MAX_DISTANCE = 20       # largest Hamming distance (of 128 bits) between near-duplicates


def duplicate_hash(signals: Mapping) -> str | None:
    """The hash of one image that :func:`duplicate_groups` compares: its pHash and dHash hex strings
    concatenated (None if either was not measured)."""
    parts = [signals.get(k) for k in DUPLICATE_HASH_KEYS]
    return "".join(str(p) for p in parts) if all(parts) else None


def hash_distance(a: str, b: str) -> int:
    """Hamming distance between two hex hash strings of the same length (e.g. 16 hex chars = 64 bits)."""
    if len(a) != len(b):
        raise ValueError(f"hashes of different lengths: {len(a)} and {len(b)} hex digits")
    return (int(a, 16) ^ int(b, 16)).bit_count()


def duplicate_groups(hashes: Sequence[str | None],
                     max_distance: int = DUPLICATE_MAX_DISTANCE) -> list[list[int]]:
    """Groups (size >= 2) of indices of near-duplicate images, each group and the list in input order.

    ``hashes[i]`` is image i's hash (see :func:`duplicate_hash`); None (or "") = unknown, never
    grouped. Two images are near-duplicates when their hashes differ in at most ``max_distance`` bits.
    """
    known = [(i, int(h, 16), len(h)) for i, h in enumerate(hashes) if h]
    parent = {i: i for i, _, _ in known}

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a in range(len(known)):
        i, hi, li = known[a]
        for j, hj, lj in known[a + 1:]:
            if li != lj:
                raise ValueError(f"hashes {i} and {j} have different lengths: {li} and {lj} hex digits")
            if (hi ^ hj).bit_count() <= max_distance:
                ri, rj = root(i), root(j)
                if ri != rj:
                    parent[max(ri, rj)] = min(ri, rj)
    groups: dict[int, list[int]] = {}
    for i, _, _ in known:
        groups.setdefault(root(i), []).append(i)
    return sorted((g for g in groups.values() if len(g) >= 2), key=lambda g: g[0])
