"""How a Suggestion is shown: the listing's images with their centroids, then the missing
poses in rank order with reference photos, seller hints and downloads."""
from __future__ import annotations

import json
import re
from pathlib import Path

import streamlit as st

from ui.common import class_tag, export_name, for_export
from ui.grid import Tile, image_grid
from ui.view_labels import reviewer_labels
from unpose_core import app_tables as views
from unpose_core.config import ORDER_TEXT, SuggestConfig
from unpose_core.exports import to_csv
from unpose_core.outputs.sheet import render_sheet
from unpose_core.rank import cohort_name
from unpose_core.records import Status
from unpose_core.runs import Run
from unpose_core.store import Store
from unpose_core.suggestions import COVERS_EXPECTED, Suggestion


def render(store: Store, run: Run, sug: Suggestion, key: str) -> None:
    backend = views.pose_backend_of(store, run)
    level = {"product_type": "product type", "subcategory": "subcategory", "category": "category",
             "global": "all products"}.get(sug.cohort_level, sug.cohort_level)
    cohort = cohort_name(sug.cohort)
    n_missing = len(sug.missing)
    st.markdown(f"Cohort **{cohort}** ({level} level) · {len(sug.images)} images · "
                f"{len(sug.present_groups)} poses shown, {len(sug.covered_groups)} covered · **{n_missing} missing**")
    st.caption(rule_text(sug.settings))
    if sug.completeness is not None:   # outputs.completeness: expected poses its usable images show, rank-weighted
        st.progress(min(max(sug.completeness / 100, 0.0), 1.0),
                    text=f"Completeness **{sug.completeness:.0f}/100**: the poses its cohort expects that its usable "
                         "photos show, the first ones counting most (a copy of another photo adds nothing)")

    st.markdown("##### This listing's images")

    image_grid(store, [Tile(a.image, hash_of(store, a), image_caption(a, run, named=sug.product_id is None))
                       for a in sug.images], backend, run, columns=6)
    reviewer_labels(store, [(hash_of(store, a), a.caption) for a in sug.images], key=f"{key}-rev")
    with st.expander("What each image shows", expanded=bool(sug.notes)):
        st.dataframe(views.image_views_table(sug), hide_index=True, key=f"{key}-views",
                     column_config={"confidence": st.column_config.ProgressColumn(
                         "confidence", min_value=0, max_value=1, format="%.2f")})
    for note in sug.notes:   # copies of one photo, several people, low quality
        st.warning(note, icon=":material/report:")
    for note in sug.run_notes:   # about the run (e.g. trained with older view rules)
        st.info(note, icon=":material/update:")
    if sug.duplicates:
        st.markdown("###### The same photo more than once")
        by_path = {a.image: a for a in sug.images}
        for same in sug.duplicates:   # side by side: the one kept, then its copies
            image_grid(store, [Tile(p, hash_of(store, by_path[p]), "kept" if j == 0 else "copy: adds nothing")
                               for j, p in enumerate(same)], backend, run, columns=6)

    st.markdown("##### Missing poses, most important first")
    if not sug.requests:
        # never a bare "complete": the reason says what was checked (or why nothing could be)
        icon = ":material/check_circle:" if sug.status == COVERS_EXPECTED else ":material/help:"
        st.info(f"No request ({sug.status.replace('_', ' ')}): {sug.reason}", icon=icon)
    else:
        st.caption(f"{sug.reason}. Order: {ORDER_TEXT}.")
    for m in sug.missing:
        _request(store, run, m, backend)
    if sug.also:   # under the confidence floor, or expected only for the ranker's score
        st.markdown("##### Also worth trying")
        st.caption(f"Less sure: confidence under {sug.settings.get('also_below', 0):g}, or expected only because "
                   "the ranker scores the pose first in this cohort.")
        for m in sug.also:
            _request(store, run, m, backend)

    c1, c2, c3, _ = st.columns([1, 1, 1, 2])
    name = sug.product_id or "upload"
    c1.download_button("Download JSON", json.dumps(sug.to_dict(), indent=1, default=str),
                       file_name=export_name("missing-poses", name, "json"), mime="application/json",
                       key=f"{key}-json", on_click="ignore", icon=":material/download:")
    c2.download_button("Download CSV", to_csv(for_export(store, sug.table())),
                       file_name=export_name("missing-poses", name, "csv"),
                       mime="text/csv", key=f"{key}-csv", on_click="ignore", icon=":material/download:")
    c3.download_button("Download seller sheet", lambda: render_sheet(sug),
                       file_name=export_name("seller-sheet", name, "html"),
                       mime="text/html", key=f"{key}-sheet", on_click="ignore", icon=":material/description:",
                       help="One printable HTML page with the listing's photos and each photo to add, its hint and "
                            "examples (images embedded; print it or save it as PDF from the browser)")
    try:
        from ui.judgements import render_judgements
    except ImportError:
        return
    render_judgements(store, run, sug)


def _request(store: Store, run: Run, m, backend) -> None:
    """One requested photo: its pose in plain words, the numbers behind it, the hint and examples."""
    with st.container(border=True):
        tags = " + ".join(class_tag(c, run) for c in (m.members or [m.pose_class]))
        st.markdown(f"**{m.rank}. {m.description}**")
        st.caption(f"pose group {m.group} · pose cluster(s) {tags}")
        st.markdown(plain_words(m))
        st.progress(min(max(m.confidence, 0.0), 1.0))
        with st.expander("The numbers behind it"):
            far = ("no comparable image in the listing" if m.closest is None
                   else f"nearest listing image {m.closest:.1f} x the pose's typical radius")
            st.markdown(f"<small>confidence **{m.confidence:.2f}** ({far}) · in {m.support:.0%} of the "
                        f"cohort's top listings (95% {m.support_low:.0%}–{m.support_high:.0%}) · ranker score "
                        f"{m.score:.3f}</small>", unsafe_allow_html=True)
            if m.why:
                st.caption(f"Expected: {m.why}")
        st.info(m.hint, icon=":material/add_a_photo:")
        image_grid(store, [Tile(r.path, r.content_hash, f"{r.product_id} · {r.title or ''}")
                           for r in m.references], backend, run, columns=6,
                   empty="No reference image in this cohort.")


def plain_words(m) -> str:
    """A missing pose in plain words: how sure, how far the listing's photos are from it, how
    common it is among the cohort's top listings (the numbers are behind an expander)."""
    sure = "Very likely missing" if m.confidence >= 0.7 else "Probably missing" if m.confidence >= 0.4 \
        else "Possibly missing"
    if m.closest is None:
        near = "none of this listing's photos can be compared with it"
    elif m.closest <= 1.5:
        near = "one of this listing's photos comes close, but does not quite show it"
    elif m.closest <= 3:
        near = "this listing's nearest photo is clearly a different pose"
    else:
        near = "nothing in this listing resembles it"
    share = max(1, round(m.support * 10)) if m.support > 0 else 0
    common = (f"about {share} in 10 of the best-selling listings like it show this pose" if share
              else "few of the best-selling listings like it show this pose")
    return f"{sure}: {near}; {common}."


def image_caption(a, run: Run, named: bool = False) -> str:
    """A listing image's caption: its class, what it shows (facing, framing or kind) and its flags;
    ``named``: its file name first (uploaded photos: the name the seller gave it)."""
    if named:
        name = re.sub(r"^\d+_", "", Path(a.image).name)   # uploads.save_product_images numbers the files
        return f"{name} · {image_caption(a, run)}"
    if a.status == Status.ERROR:
        return f"failed: {a.error or 'unreadable'}"
    if a.pose_class is None:
        return a.status
    tag = run.class_tag(a.pose_class) if not run.is_pose(a.pose_class) else f"c{a.pose_class}"
    # one caption: the image's own reading first; its centroid's description only where it disagrees
    said = a.caption or (a.view["label"] if a.view else a.description)
    differs = f" · {a.disagreement}" if a.disagreement else ""
    flags = f" · ⚠ {', '.join(f.replace('_', ' ') for f in a.flags)}" if a.flags else ""
    copy = " · same photo as an earlier one" if a.duplicate_of else ""
    return f"{tag} · {said}{differs}{flags}{copy}"


def rule_text(settings: dict) -> str:
    """The suggestion rule and its thresholds, in words (SuggestConfig, as the Suggestion used it)."""
    if not settings:
        return ""
    source = settings.get("source")
    where = f" Settings: {source}." if source and source != "given" else ""
    return f"Rule: {SuggestConfig.from_dict(settings).rule_text()}.{where}"


def hash_of(store: Store, a) -> str | None:
    """The content hash of a listing image (ImageAssignment): the store's, else hashed from the file."""
    if a.image_id is not None:
        h = store.image_hash(a.image_id)
        if h:
            return h
    try:
        from unpose_core.images import content_hash
        return content_hash(a.image)
    except OSError:
        return None
