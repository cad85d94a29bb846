"""Data and figure for the Clusters page: the run's UMAP map, loaded once per run.

The map itself comes from unpose_core.projection (computed once per run and stored in
the run folder); here it is held in memory per (data dir, run) with st.cache_resource as
compact arrays (:class:`MapPoints`: positions, pose classes, rows of the run's reference
table; :class:`MapView`: what is drawn) and drawn as one WebGL trace per centroid. What the
browser gets per dot is its position as two uint16 (numpy arrays go base64-encoded, plotly >= 6).

Level of detail: up to :data:`MAP_POINTS_MAX` points every point is drawn; a larger map draws a
seeded sample of each centroid (``projection.draw_sample``). Measured in Chromium
(benchmarks/bench_clusters_browser.py): with every point of 1M drawn the page got 5.8 MB, and a
lasso over the map made the browser send the selected points back, 80 MB, over Streamlit's
25 MB WebSocket limit (the connection closed, no answer); at 200k it sent 16 MB and took 9 s.
On a sampled map the browser only reports the drawn dots it found, and :func:`selected` takes
every point inside the lasso's or box's outline, drawn or not, on the server
(``projection.in_polygon``: ~0.2 s for 1M points).

Nothing per image is read from the catalogue for the map: a selection is mapped back to its
reference rows through (trace, point index) or the outline, and only the images shown are looked
up in the store (their paths). Up to :data:`HOVER_IDS_MAX` drawn dots each dot's hover also names
its product; above that the hover names the centroid only.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.colors import hex_to_rgb, qualitative, unlabel_rgb

from ui.common import cached_run, run_path, scroll_here, store_at
from ui.grid import Tile, image_grid
from unpose_core import app_tables as views
from unpose_core import projection
from unpose_core.runs import Run
from unpose_core.store import Store

DISTINCT = 60.0            # least RGB distance between two colours of the palette


def _rgb(colour_: str) -> np.ndarray:
    return np.array(unlabel_rgb(colour_) if colour_.startswith("rgb") else hex_to_rgb(colour_), float)


def distinct_palette(min_distance: float = DISTINCT) -> tuple[str, ...]:
    """Plotly's qualitative colours in order (Bold first), keeping only those at least
    ``min_distance`` (RGB) from every colour kept before and dark enough to show on white: 35
    colours, so a legend up to K=35 never repeats or nearly repeats one (Bold + Vivid repeated
    from centroid 11)."""
    kept: list[str] = []
    for c in dict.fromkeys(qualitative.Bold + qualitative.Dark24 + qualitative.Alphabet + qualitative.Light24
                           + qualitative.Vivid):
        v = _rgb(c)
        if v @ (0.299, 0.587, 0.114) <= 200 and all(np.linalg.norm(v - _rgb(o)) >= min_distance for o in kept):
            kept.append(c)
    return tuple(kept)


PALETTE = distinct_palette()
HOVER_IDS_MAX = 50_000      # above this many drawn dots the hover does not name each dot's product
MAP_POINTS_MAX = 20_000     # dots drawn at most; a larger map draws a sample (selections still cover every point)
GRID = 65_535               # positions are drawn on a 0..GRID grid (uint16), the same scale on both axes


def colour(c: int) -> str:
    return PALETTE[c % len(PALETTE)]


@dataclass(frozen=True, eq=False)
class MapPoints:
    """Every reference image with a person, as the map draws it (aligned arrays, one row per dot).

    ``rows`` are positions in ``run.reference`` (product_id, content_hash, ... of a dot);
    ``meta`` is the stored map's description (``fit_sample``, ``n_points``, ...)."""

    xy: np.ndarray                   # (n, 2) float32, map coordinates
    pose_class: np.ndarray           # (n,) int
    rows: np.ndarray                 # (n,) int64
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.xy)

    @classmethod
    def build(cls, xy: np.ndarray, pose_class: np.ndarray, rows: np.ndarray | None = None,
              meta: dict | None = None) -> MapPoints:
        xy = np.asarray(xy, np.float32).reshape(-1, 2)
        rows = np.arange(len(xy), dtype=np.int64) if rows is None else np.asarray(rows, np.int64)
        pose_class = np.asarray(pose_class)
        if not len(xy) == len(pose_class) == len(rows):
            raise ValueError(f"{len(xy)} positions, {len(pose_class)} classes and {len(rows)} rows differ")
        return cls(xy, pose_class, rows, dict(meta or {}))

    def grid(self) -> np.ndarray:
        """(n, 2) uint16 positions: the map shifted to 0 and scaled by one factor so its longer
        side spans 0..GRID (the aspect ratio is kept; 1/65535 of the map is far below a pixel)."""
        if not len(self.xy):
            return np.zeros((0, 2), np.uint16)
        lo = self.xy.min(axis=0)
        span = float((self.xy.max(axis=0) - lo).max())
        scale = GRID / span if span > 0 else 0.0
        return np.rint((self.xy - lo) * scale).astype(np.uint16)

    def traces(self, k: int) -> list[tuple[int, np.ndarray]]:
        """(centroid, its dots' positions in this table) per trace of :func:`figure`, in trace order."""
        order = np.argsort(self.pose_class, kind="stable")
        bounds = np.searchsorted(self.pose_class[order], np.arange(k + 1))
        return [(c, order[bounds[c]:bounds[c + 1]]) for c in range(k) if bounds[c + 1] > bounds[c]]


@dataclass(frozen=True, eq=False)
class MapView:
    """A run's map as the page draws it and selects from: every point (:class:`MapPoints`), their
    positions on the drawn grid, and the dots drawn, one trace per centroid. Up to
    :data:`MAP_POINTS_MAX` points every point is drawn; above, a sample
    (:func:`unpose_core.projection.draw_sample`) and a lasso or box selects over every point
    (:func:`selected`)."""

    pts: MapPoints
    grid: np.ndarray                          # (n, 2) uint16: every point, as drawn (MapPoints.grid)
    traces: list[tuple[int, np.ndarray]]      # (centroid, its drawn dots' positions in pts) per trace
    y_order: np.ndarray | None = None         # every point by drawn y (polygon tests), when sampled

    @property
    def n_drawn(self) -> int:
        return int(sum(len(m) for _, m in self.traces))

    @property
    def sampled(self) -> bool:
        return self.n_drawn < len(self.pts)

    @classmethod
    def build(cls, pts: MapPoints, k: int, cap: int) -> MapView:
        drawn = projection.draw_sample(pts.pose_class, cap)
        traces = [(c, drawn[m]) for c, m in MapPoints.build(pts.xy[drawn], pts.pose_class[drawn]).traces(k)]
        grid = pts.grid()
        sampled = len(drawn) < len(pts)
        return cls(pts, grid, traces, np.argsort(grid[:, 1], kind="stable") if sampled else None)


@st.cache_resource(show_spinner=False, max_entries=4)
def _view(data_dir: str, run_id: str, run_path_: str, version: tuple, cap: int) -> MapView:
    store = store_at(data_dir)
    run = cached_run(data_dir, run_id, run_path_)
    proj = projection.ensure_projection(store, run)
    pc = run.reference["pose_class"].to_numpy()[proj.rows]
    return MapView.build(MapPoints.build(proj.xy, pc, proj.rows, proj.meta), run.k, cap)


def _key(store: Store, run: Run) -> tuple:
    """What the cached map and figure are keyed on: data dir, run, its folder and the stored map's
    file versions (a map stored again is read again; two stat calls)."""
    return str(store.data_dir), run.run_id, run_path(store, run.run_id), projection.stored_version(run)


def map_view(store: Store, run: Run) -> MapView:
    """The run's map as drawn (loaded once per run, stored map and :data:`MAP_POINTS_MAX`)."""
    return _view(*_key(store, run), MAP_POINTS_MAX)


@st.cache_resource(show_spinner=False, max_entries=4)
def _figure(data_dir: str, run_id: str, run_path_: str, version: tuple, cap: int, k: int, descriptions: tuple,
            products: bool, height: int) -> go.Figure:
    view = _view(data_dir, run_id, run_path_, version, cap)
    names = None
    if products:
        names = cached_run(data_dir, run_id, run_path_).reference["product_id"].to_numpy(object)[view.pts.rows]
    return figure(view.pts, dict(descriptions), k, height, traces=view.traces, products=names, grid=view.grid)


def map_figure(store: Store, run: Run, descriptions: dict[int, str], height: int = 620) -> go.Figure:
    """The run's map figure, built once per run and set of descriptions (st.cache_resource); the
    hover names each dot's product up to :data:`HOVER_IDS_MAX` drawn dots."""
    view = map_view(store, run)
    return _figure(*_key(store, run), MAP_POINTS_MAX, run.k,
                   tuple(sorted((int(c), str(d)) for c, d in descriptions.items() if 0 <= int(c) < run.k)),
                   view.n_drawn <= HOVER_IDS_MAX, height)


def figure(pts: MapPoints, descriptions: dict[int, str], k: int, height: int = 620,
           traces: list[tuple[int, np.ndarray]] | None = None, products: np.ndarray | None = None,
           grid: np.ndarray | None = None) -> go.Figure:
    """One Scattergl trace per centroid, positions as uint16 (:meth:`MapPoints.grid`, or ``grid``).
    ``traces``: the dots drawn per centroid (default every point, :meth:`MapPoints.traces`);
    ``products``: one product id per point, named in the hover (else the hover names the centroid)."""
    fig = go.Figure()
    traces = pts.traces(k) if traces is None else traces
    grid = pts.grid() if grid is None else grid
    n_drawn = sum(len(m) for _, m in traces)
    size = 7 if n_drawn < 5_000 else 4 if n_drawn < 50_000 else 2
    for c, m in traces:
        desc = descriptions.get(c, "")
        name = f"{c} · {desc}"
        extra = {} if products is None else {"text": products[m]}
        fig.add_trace(go.Scattergl(
            x=grid[m, 0], y=grid[m, 1], mode="markers", name=name if len(name) < 48 else name[:46] + "…",
            marker={"size": size, "color": colour(c), "opacity": 0.8, "line": {"width": 0}},
            hovertemplate=("<b>%{text}</b><br>" if products is not None else "")
            + f"centroid {c}: {desc}<extra></extra>", **extra,
        ))
    fig.update_layout(
        # "pan": a plain click selects a dot. Not "lasso": Streamlit's chart sets clickmode "event" (no click
        # selection) whenever dragmode is lasso or select (its PlotlyChart frontend, 1.60); lasso and box in the toolbar
        height=height, margin={"l": 0, "r": 0, "t": 10, "b": 0}, dragmode="pan",
        legend={"title": {"text": "centroid"}, "itemsizing": "constant", "font": {"size": 11}},
        xaxis={"visible": False}, yaxis={"visible": False, "scaleanchor": "x"}, hovermode="closest",
        uirevision="umap",
    )
    return fig


def selected_rows(event, traces: list[np.ndarray]) -> list[int]:
    """Rows of the MapPoints picked by click, box or lasso: each selected point's trace
    (``curve_number``) and index in it (``point_index``), through ``traces`` (:attr:`MapView.traces`)."""
    try:
        pts = event.selection.points
    except (AttributeError, KeyError):
        try:
            pts = event["selection"]["points"]
        except (KeyError, TypeError):
            return []
    out = []
    for p in pts or []:
        curve, index = p.get("curve_number"), p.get("point_index", p.get("point_number"))
        if isinstance(curve, int) and isinstance(index, int) and 0 <= curve < len(traces) \
                and 0 <= index < len(traces[curve]):
            out.append(int(traces[curve][index]))
    return list(dict.fromkeys(out))


def _shapes(event) -> tuple[list[dict], list[dict]]:
    """The boxes and lasso outlines of a selection event ({"x": [...], "y": [...]} in drawn coordinates)."""
    try:
        sel = event["selection"]
    except (KeyError, TypeError):
        sel = getattr(event, "selection", None)
    if sel is None:
        return [], []

    def shapes(name: str) -> list[dict]:
        try:
            got = sel[name]
        except (KeyError, TypeError):
            got = getattr(sel, name, None)
        return [s for s in got or [] if isinstance(s, dict) and len(s.get("x") or ()) == len(s.get("y") or ()) > 0]
    return shapes("box"), shapes("lasso")


def selected(event, view: MapView) -> np.ndarray:
    """Rows of the MapPoints a selection picked, over every point of the map.

    A click picks its dot (:func:`selected_rows`). When every point is drawn, a lasso or box picks
    the dots the browser found inside it. On a sampled map (:attr:`MapView.sampled`) a lasso or box
    picks every point inside its outline, drawn or not (:func:`unpose_core.projection.in_polygon`
    and ``in_box`` on the drawn grid), of the centroids that have a drawn dot inside it: a centroid
    hidden from the map by a legend click has none, so it stays out, as it does when every point
    is drawn."""
    picked = np.asarray(selected_rows(event, [m for _, m in view.traces]), np.int64)
    boxes, lassos = _shapes(event)
    if not view.sampled or not (boxes or lassos) or not len(picked):
        return picked
    inside = np.zeros(len(view.pts), bool)
    for b in boxes:
        inside |= projection.in_box(view.grid, b["x"][:2], b["y"][:2])
    for lasso in lassos:
        inside |= projection.in_polygon(view.grid, np.column_stack([lasso["x"], lasso["y"]]), view.y_order)
    inside &= np.isin(view.pts.pose_class, np.unique(view.pts.pose_class[picked]))
    inside[picked] = True
    return np.flatnonzero(inside)


@st.cache_resource(show_spinner=False, max_entries=4)
def _hash_codes(data_dir: str, run_id: str, run_path_: str, version: tuple, cap: int) -> tuple[np.ndarray, np.ndarray]:
    """(code per map point, distinct content hashes): the map's images factorized once per map."""
    rows = _view(data_dir, run_id, run_path_, version, cap).pts.rows
    codes, distinct = cached_run(data_dir, run_id, run_path_).reference["content_hash"].take(rows).factorize()
    return codes, np.asarray(distinct, object)


def selection_hashes(store: Store, run: Run, rows: np.ndarray) -> np.ndarray:
    """The distinct content hashes of the selected map rows (a million-row selection in ~10 ms: the
    map's hashes are factorized once per map, :func:`_hash_codes`)."""
    codes, distinct = _hash_codes(*_key(store, run), MAP_POINTS_MAX)
    picked = np.zeros(len(distinct) + 1, bool)      # the last: rows without a hash (code -1)
    picked[codes[np.asarray(rows, np.int64)]] = True
    picked = picked[:-1] & (distinct != "")
    return distinct[picked]


def selection_frame(run: Run, pts: MapPoints, rows: list[int]) -> pd.DataFrame:
    """The reference rows (product_id, content_hash, pose_class, ...) of selected map rows."""
    return run.reference.iloc[pts.rows[np.asarray(rows, np.int64)]]


SELECTION_PAGE = 48       # images per page of a map selection


def _n(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def selection_panel(store: Store, run: Run, sel: pd.DataFrame, descs: dict[int, str],
                    backend: tuple[str, str] | None, key: str, page_size: int = SELECTION_PAGE) -> None:
    """The images of a map selection: a count, then pages of ``page_size`` images grouped by
    centroid (nearest its centre first); every tile opens a larger image with its skeleton and
    product. Only the images of the page shown are looked up in the catalogue, and only they are
    taken out of ``sel`` (its order is a numpy lexsort: a million-image selection is not copied)."""
    pc = sel["pose_class"].to_numpy()
    order = np.lexsort((sel["distance"].to_numpy(float) if "distance" in sel else np.zeros(len(sel)), pc))
    by_class = pd.Series(*np.unique(pc, return_counts=True)[::-1])
    n_pages = max(1, -(-len(sel) // page_size))
    # a new selection: the view moves down to its count and images (they are drawn below the map); told
    # apart by its size and three of its images (not all of them: a lasso may hold a million)
    ends = sel["content_hash"].iloc[[0, len(sel) // 2, -1]] if len(sel) else []
    scroll_here(key, f"{len(sel)}-{'-'.join(map(str, ends))}")
    st.markdown(f"**Selected: {_n(len(sel), 'image')}** from {_n(sel['product_id'].nunique(), 'product')} in "
                f"{_n(len(by_class), 'centroid')} · " + ", ".join(f"centroid {c}: {n}" for c, n in by_class.items()))
    page_key = f"{key}-page"
    if st.session_state.get(f"{key}-n") != len(sel):      # a new selection starts on its first page
        st.session_state[f"{key}-n"] = len(sel)
        st.session_state[page_key] = 1
    page = 1
    if n_pages > 1:
        c1, c2 = st.columns([1, 4], vertical_alignment="center")
        page = int(c1.number_input("Page", 1, n_pages, key=page_key))
        c2.caption(f"Page {page} of {n_pages} · images {(page - 1) * page_size + 1}–"
                   f"{min(page * page_size, len(sel))} of {len(sel)}")
    shown = sel.iloc[order[(page - 1) * page_size: page * page_size]]
    paths = views.paths_for_hashes(store, shown["content_hash"])
    for c, group in shown.groupby("pose_class", sort=False):
        st.markdown(f"<span style='color:{colour(int(c))}'>●</span> **Centroid {run.class_tag(int(c))}** · "
                    f"{descs.get(int(c), '')} · {int(by_class[c])} selected", unsafe_allow_html=True)
        image_grid(store, [Tile(paths.get(r.content_hash), r.content_hash, f"{r.product_id} · c{r.pose_class}"
                                + (f" · {r.view}" if getattr(r, "view", None) else ""), r.product_id)
                           for r in group.itertuples()], backend, run, columns=8, limit=page_size,
                   open_key=f"{key}-{page}-{int(c)}")
