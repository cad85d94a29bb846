"""The "+view" embedding: the paper's dimensions plus documented view dimensions."""
import numpy as np
import pytest

from unpose_core.embed import BLAZEPOSE_FEATURES, VIEW_FEATURES, embed, embedding_table, split_family
from unpose_core.embed.views import FACING_YAW, VIEW_DIM, mirror_view_embedding, view_embedding
from unpose_core.views import Facing, Framing, ImageKind
from unpose_core.views.describe import ImageView

RNG = np.random.default_rng(0)


def person(facing, framing, fc=1.0, rc=1.0, yaw=None):
    return ImageView(ImageKind.PERSON, 1.0, facing, fc, yaw, framing, rc, n_people=1)


def test_table_documents_every_view_dimension():
    table = embedding_table("blazepose33+view")
    assert table[:77] == BLAZEPOSE_FEATURES and table[77:] == VIEW_FEATURES
    assert len(table) == 77 + VIEW_DIM and len({n for n, _ in table}) == len(table)
    assert all(desc for _, desc in VIEW_FEATURES)
    assert len(embedding_table("coco17+view")) == 61 + VIEW_DIM
    assert split_family("coco17+view") == ("coco17", True) and split_family("blazepose33") == ("blazepose33", False)


def test_view_dims_separate_front_back_and_sides():
    views = [person(f, Framing.FULL_LENGTH) for f in Facing]
    X = view_embedding(views)
    by = {f: X[i] for i, f in enumerate(Facing)}
    assert by[Facing.FRONT][0] == pytest.approx(1.0) and by[Facing.BACK][0] == pytest.approx(-1.0)
    assert by[Facing.PROFILE_RIGHT][1] == pytest.approx(1.0) and by[Facing.PROFILE_LEFT][1] == pytest.approx(-1.0)
    # front and back are the farthest apart; a profile lies between
    def d(a, b):
        return float(np.linalg.norm(by[a] - by[b]))
    assert d(Facing.FRONT, Facing.BACK) > d(Facing.FRONT, Facing.PROFILE_LEFT) \
        > d(Facing.FRONT, Facing.THREE_QUARTER_LEFT)


def test_confidence_scales_and_non_person_is_zero():
    sure, unsure = view_embedding([person(Facing.BACK, Framing.CLOSE_UP),
                                   person(Facing.BACK, Framing.CLOSE_UP, 0.2, 0.2)])
    assert np.allclose(unsure, 0.2 * sure)
    other = view_embedding([ImageView(ImageKind.FABRIC, 0.9), None])
    assert not other.any()


def test_framing_is_ordered():
    X = view_embedding([person(Facing.FRONT, f) for f in Framing])
    assert list(X[:, 2]) == sorted(X[:, 2]) and X[0, 2] < 0 < X[-1, 2]


def test_mirror_flips_only_the_side():
    X = view_embedding([person(Facing.THREE_QUARTER_LEFT, Framing.UPPER_BODY)])
    M = mirror_view_embedding(X)
    assert np.allclose(M, view_embedding([person(Facing.THREE_QUARTER_RIGHT, Framing.UPPER_BODY)]))
    assert FACING_YAW[Facing.THREE_QUARTER_LEFT] == -FACING_YAW[Facing.THREE_QUARTER_RIGHT]


def test_embed_appends_views_and_demands_them():
    lms = RNG.uniform(0, 1, (3, 33, 4)).astype(np.float32)
    views = [person(Facing.FRONT, Framing.FULL_LENGTH), person(Facing.BACK, Framing.UPPER_BODY), None]
    X = embed(lms, "blazepose33+view", views)
    assert X.shape == (3, 77 + VIEW_DIM) and np.isfinite(X).all()
    assert np.allclose(X[:, :77], embed(lms, "blazepose33"))
    with pytest.raises(ValueError, match="needs one view"):
        embed(lms, "blazepose33+view")
    with pytest.raises(ValueError, match="unknown embedding family"):
        embed(lms, "nope+view", views)
