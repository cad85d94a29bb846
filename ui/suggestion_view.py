"""How a Suggestion is shown: the listing's images with their centroids, then the missing
poses in rank order with reference photos, seller hints and downloads."""
from __future__ import annotations

import json

import streamlit as st

from ui.grid import Tile, image_grid
from unpose_core import app_tables as views
from unpose_core.exports import to_csv
from unpose_core.runs import Run
from unpose_core.store import Store
from unpose_core.suggest import Suggestion


def render(store: Store, run: Run, sug: Suggestion, key: str) -> None:
    backend = views.pose_backend_of(store, run)
    level = {"product_type": "product type", "subcategory": "subcategory", "category": "category",
             "global": "all products"}.get(sug.cohort_level, sug.cohort_level)
    cohort = sug.cohort.replace("|", " / ") if sug.cohort != "*" else "all products"
    n_missing = len(sug.missing)
    st.markdown(f"Cohort **{cohort}** ({level} level) · {len(sug.images)} images · "
                f"{len(sug.present)} pose classes present · **{n_missing} missing**")

    st.markdown("##### This listing's images")

    def caption(a) -> str:
        if a.status == "error":
            return f"failed: {a.error or 'unreadable'}"
        if a.pose_class is None:
            return a.status
        tag = "∅" if a.pose_class == run.no_person_class else f"c{a.pose_class}"
        return f"{tag} · {a.description}"

    image_grid(store, [Tile(a.image, _hash_of(store, a), caption(a)) for a in sug.images], backend, run,
               columns=6)

    st.markdown("##### Missing poses, most important first")
    if not sug.missing:
        st.success("Nothing missing: this listing shows every pose its cohort's top products show.",
                   icon=":material/check_circle:")
    for m in sug.missing:
        with st.container(border=True):
            tag = "∅" if m.pose_class == run.no_person_class else str(m.pose_class)
            st.markdown(f"**{m.rank}. Centroid {tag}: {m.description}**  \n"
                        f"<small>in {m.support:.0%} of the cohort's top listings · ranker score "
                        f"{m.score:.3f}</small>", unsafe_allow_html=True)
            st.info(m.hint, icon=":material/add_a_photo:")
            image_grid(store, [Tile(r.path, r.content_hash, f"{r.product_id} · {r.title or ''}")
                               for r in m.references], backend, run, columns=6,
                       empty="No reference image in this cohort.")

    c1, c2, _ = st.columns([1, 1, 3])
    name = sug.product_id or "upload"
    c1.download_button("Download JSON", json.dumps(sug.to_dict(), indent=1, default=str),
                       file_name=f"missing-poses-{name}.json", mime="application/json",
                       key=f"{key}-json", on_click="ignore", icon=":material/download:")
    c2.download_button("Download CSV", to_csv(sug.table()), file_name=f"missing-poses-{name}.csv",
                       mime="text/csv", key=f"{key}-csv", on_click="ignore", icon=":material/download:")
    try:
        from ui.judgements import render_judgements
    except ImportError:
        return
    render_judgements(store, run, sug)


def _hash_of(store: Store, a) -> str | None:
    if a.image_id is not None:
        h = store.image_hash(a.image_id)
        if h:
            return h
    try:
        from unpose_core.images import content_hash
        return content_hash(a.image)
    except OSError:
        return None
