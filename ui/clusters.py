"""Data and figure for the Clusters page: the run's UMAP map, loaded once per run.

The map itself comes from unpose_core.projection (computed once per run and stored in
the run folder); here it is held in memory per (data dir, run) with st.cache_resource,
joined with product titles and image paths, and drawn as one WebGL trace per centroid.
All points are drawn: numpy arrays go to the browser base64-encoded (plotly >= 6).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.colors import qualitative

from ui.common import _load_run, _store, catalogue_version, run_path
from unpose_core import projection
from unpose_core.runs import Run
from unpose_core.store import Store

PALETTE = (qualitative.Bold + qualitative.Vivid + qualitative.Dark24 + qualitative.Light24
           + qualitative.Alphabet)


def colour(c: int) -> str:
    return PALETTE[c % len(PALETTE)]


@st.cache_resource(show_spinner=False, max_entries=4)
def _points(data_dir: str, run_id: str, run_path_: str, cat_version: str) -> pd.DataFrame:
    store = _store(data_dir)
    run = _load_run(data_dir, run_id, run_path_)
    proj = projection.ensure_projection(store, run)
    pts = proj.frame[["image_id", "product_id", "content_hash", "pose_class", "distance"]].copy()
    pts["x"], pts["y"] = proj.xy[:, 0], proj.xy[:, 1]
    pts["title"] = pts["product_id"].map(store.product_titles())
    pts["path"] = pts["content_hash"].map(store.image_paths())
    pts.attrs["meta"] = proj.meta
    return pts


def points(store: Store, run: Run) -> pd.DataFrame:
    """Every reference image with a person: map position, class, product, title and path."""
    return _points(str(store.data_dir), run.run_id, run_path(store, run.run_id), catalogue_version(store))


def figure(pts: pd.DataFrame, descriptions: dict[int, str], k: int, height: int = 620) -> go.Figure:
    """One Scattergl trace per centroid; customdata is the row of ``pts`` (for selections)."""
    fig = go.Figure()
    cls = pts["pose_class"].to_numpy()
    rows = np.arange(len(pts), dtype=np.int32)
    x = pts["x"].to_numpy(np.float32)
    y = pts["y"].to_numpy(np.float32)
    prod = pts["product_id"].to_numpy(object)
    size = 7 if len(pts) < 5_000 else 4 if len(pts) < 50_000 else 2
    for c in range(k):
        m = cls == c
        if not m.any():
            continue
        name = f"{c} · {descriptions.get(c, '')}"
        fig.add_trace(go.Scattergl(
            x=x[m], y=y[m], mode="markers", name=name if len(name) < 48 else name[:46] + "…",
            customdata=rows[m], text=prod[m],
            marker={"size": size, "color": colour(c), "opacity": 0.8, "line": {"width": 0}},
            hovertemplate=f"<b>%{{text}}</b><br>centroid {c}: {descriptions.get(c, '')}<extra></extra>",
        ))
    fig.update_layout(
        height=height, margin={"l": 0, "r": 0, "t": 10, "b": 0}, dragmode="lasso",
        legend={"title": {"text": "centroid"}, "itemsizing": "constant", "font": {"size": 11}},
        xaxis={"visible": False}, yaxis={"visible": False, "scaleanchor": "x"}, hovermode="closest",
        uirevision="umap",
    )
    return fig


def selected_rows(event) -> list[int]:
    """Rows of the points frame picked by click, box or lasso (through customdata)."""
    try:
        pts = event.selection.points
    except (AttributeError, KeyError):
        try:
            pts = event["selection"]["points"]
        except (KeyError, TypeError):
            return []
    out = []
    for p in pts or []:
        cd = p.get("customdata")
        if isinstance(cd, (list, tuple)):
            cd = cd[0] if cd else None
        if cd is not None:
            out.append(int(cd))
    return list(dict.fromkeys(out))
