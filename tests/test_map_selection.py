"""The map's level of detail: which dots a large map draws (projection.draw_sample), and a lasso or
box over every point, drawn or not (projection.in_polygon / in_box, ui.clusters.selected)."""
from __future__ import annotations

import numpy as np
import pytest

from unpose_core import projection


def _crossings(px: float, py: float, poly: np.ndarray) -> bool:
    """Point in polygon, one point at a time (the textbook even-odd rule), for reference."""
    inside = False
    for (x1, y1), (x2, y2) in zip(poly, np.roll(poly, -1, axis=0)):
        if (y1 <= py < y2 or y2 <= py < y1) and px < x1 + (py - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def test_draw_sample_keeps_every_class_and_its_share():
    rng = np.random.default_rng(3)
    pc = rng.choice(5, size=20_000, p=[0.5, 0.3, 0.15, 0.0475, 0.0025])     # class 4: ~50 points
    assert projection.draw_sample(pc, 20_000).tolist() == list(range(20_000))   # up to the cap: all
    got = projection.draw_sample(pc, 2_000, seed=1, min_per_class=100)
    assert np.all(np.diff(got) > 0) and got.min() >= 0 and got.max() < len(pc)   # sorted, distinct
    sizes, drawn = np.bincount(pc, minlength=5), np.bincount(pc[got], minlength=5)
    assert drawn[4] == sizes[4] < 100                     # a class below min_per_class: all of it
    assert drawn[3] == 100                                # its share (~48) lifted to min_per_class
    for c in range(3):                                    # the others: their share of the cap
        assert drawn[c] == round(sizes[c] * 2_000 / len(pc))
    assert abs(len(got) - 2_000) < 100
    assert np.array_equal(projection.draw_sample(pc, 2_000, seed=1, min_per_class=100), got)   # seeded
    assert not np.array_equal(projection.draw_sample(pc, 2_000, seed=2, min_per_class=100), got)
    with pytest.raises(ValueError, match="cap"):
        projection.draw_sample(pc, 0)


def test_in_polygon_matches_the_even_odd_rule():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 100, size=(3_000, 2)).astype(np.float32)
    xy[:200] = np.rint(xy[:200])                          # points on the polygons' vertex rows too
    t = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    star = np.column_stack([50 + (30 + 15 * np.sin(5 * t)) * np.cos(t), 50 + (30 + 15 * np.sin(5 * t)) * np.sin(t)])
    square = np.array([[10, 10], [60, 10], [60, 60], [10, 60]], float)
    bowtie = np.array([[0, 0], [100, 100], [100, 0], [0, 100]], float)       # self-crossing
    for poly in (star, square, bowtie, np.rint(star)):
        want = np.array([_crossings(float(x), float(y), poly) for x, y in xy])
        got = projection.in_polygon(xy, poly)
        assert np.array_equal(got, want)
        assert np.array_equal(projection.in_polygon(xy, poly, np.argsort(xy[:, 1], kind="stable")), want)
        assert 0 < want.sum() < len(xy)
    inner = (xy[:, 0] > 10) & (xy[:, 0] < 60) & (xy[:, 1] > 10) & (xy[:, 1] < 60)
    assert np.array_equal(projection.in_polygon(xy, square)[inner], inner[inner])
    assert not projection.in_polygon(xy, square[:2]).any()                    # not a polygon
    assert projection.in_polygon(np.zeros((0, 2)), square).shape == (0,)


def test_in_box_is_inclusive_in_either_order():
    xy = np.array([[0, 0], [5, 5], [10, 10], [11, 3]], np.uint16)
    assert projection.in_box(xy, (10, 0), (10, 0)).tolist() == [True, True, True, False]
    assert projection.in_box(xy, (5, 11), (3, 5)).tolist() == [False, True, False, True]


def _view(n: int, k: int, cap: int, seed: int = 0):
    from ui.clusters import MapPoints, MapView

    rng = np.random.default_rng(seed)
    xy = rng.uniform(-3, 5, size=(n, 2)).astype(np.float32)
    return MapView.build(MapPoints.build(xy, rng.integers(0, k, n), rows=np.arange(n) + 7), k, cap)


def _event(view, rows, lasso=None, box=None) -> dict:
    """What Streamlit hands the page: each selected drawn dot as (trace, index in it), plus outlines."""
    where = {int(r): (t, i) for t, (_, m) in enumerate(view.traces) for i, r in enumerate(m)}
    points = [{"curve_number": where[r][0], "point_index": where[r][1], "point_number": where[r][1]}
              for r in rows]
    return {"selection": {"points": points, "point_indices": [p["point_index"] for p in points],
                          "box": [] if box is None else [box], "lasso": [] if lasso is None else [lasso]}}


def test_lasso_and_box_on_a_sampled_map_take_every_point_inside():
    from ui.clusters import selected

    view = _view(6_000, 4, cap=2_000)
    assert view.sampled and 1_900 < view.n_drawn < 2_100
    drawn = np.concatenate([m for _, m in view.traces])
    assert len(np.unique(drawn)) == view.n_drawn
    g = view.grid.astype(float)
    lasso = {"x": [5_000, 40_000, 60_000, 20_000], "y": [3_000, 8_000, 50_000, 45_000]}
    inside = np.flatnonzero(projection.in_polygon(g, np.column_stack([lasso["x"], lasso["y"]])))
    seen = np.intersect1d(inside, drawn)                  # what the browser finds inside: drawn dots only
    assert 0 < len(seen) < len(inside)
    got = selected(_event(view, seen, lasso=lasso), view)
    assert np.array_equal(got, inside)                    # every point inside, drawn or not
    # a centroid hidden by a legend click has no dot in the browser's selection: none of its points
    hidden = seen[view.pts.pose_class[seen] != 2]
    got = selected(_event(view, hidden, lasso=lasso), view)
    assert np.array_equal(got, inside[view.pts.pose_class[inside] != 2])
    # a box: every point in the rectangle (drawn coordinates)
    box = {"x": [60_000, 10_000], "y": [20_000, 55_000]}
    in_box = np.flatnonzero(projection.in_box(g, box["x"], box["y"]))
    got = selected(_event(view, np.intersect1d(in_box, drawn), box=box), view)
    assert np.array_equal(got, in_box)
    # a click picks its dot only; an outline round no drawn dot picks nothing
    one = drawn[17:18]
    assert selected(_event(view, one), view).tolist() == one.tolist()
    assert selected(_event(view, [], lasso=lasso), view).tolist() == []
    assert selected(None, view).tolist() == []


def test_a_map_drawn_whole_keeps_the_browsers_selection():
    from ui.clusters import selected

    view = _view(500, 3, cap=1_000)
    assert not view.sampled and view.y_order is None and view.n_drawn == 500
    lasso = {"x": [0, 65_535, 65_535, 0], "y": [0, 0, 65_535, 65_535]}
    picked = np.array([4, 9, 300])                        # the browser's answer is taken as it is
    assert selected(_event(view, picked, lasso=lasso), view).tolist() == [4, 9, 300]

