"""Evaluate: how good are the suggestions, per subcategory and configuration (paper Table 1)."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import streamlit as st

from ui import frame
from ui.common import backend_problems, engine_errors, export_name, require_catalogue
from ui.jobs_view import job_panel
from unpose_core import jobs
from unpose_core.evaluation.judgements import judgement_table, load_labels
from unpose_core.evaluation.labels import remove_saved_labels, save_labels_file, saved_labels_path
from unpose_core.evaluation.metrics import METRIC_TITLES
from unpose_core.evaluation.protocol import Configuration, EvalOptions
from unpose_core.evaluation.results import saved_results, table_from_dict
from unpose_core.pose import available_backends

with frame.page("Evaluate") as page:
    store = page.store
    st.caption(
        "**Hide and complete.** A labelled product with at least p (5) images plays a sparse listing: 2-4 of "
        "its images are kept and the system names the missing poses; the truth is the views of the dropped images "
        "that no kept image shows (smaller listings are no answer key: their own photos already lack most views). "
        "A share of the labelled reference products is held out of training for every seed, "
        "so no product is scored by a run that learnt from it. Accuracy is the paper's (true missing views "
        "found / true missing views); precision counts every flag of a view the listing did not lose as wrong; "
        "purity is the share of held-out images whose pose class stands for their own view.")
    require_catalogue(store)

    job = job_panel(store, key="eval-panel", kinds=("evaluate",))
    running = job is not None and job.running

    # -- labels ----------------------------------------------------------------------------------
    st.subheader("Labels")
    labels = None
    with engine_errors("The labels cannot be read"):
        labels = load_labels(store)
    if labels is not None:
        if labels.empty:
            st.warning("No view labels yet: this catalogue has no pose_label column. Upload a labels file "
                       "(image_path,label rows and/or product_id,missing rows) or review products on the "
                       "Product page.", icon=":material/label_off:")
        else:
            st.caption(labels.summary())
            counts = labels.image_labels.value_counts()
            if len(counts):
                st.caption("Views: " + ", ".join(f"{v} {n}" for v, n in counts.items()))
        if labels.problems:
            with st.expander(f"{len(labels.problems)} labels-file rows not used", icon=":material/warning:"):
                st.write("\n".join(f"- {p}" for p in labels.problems))
    saved_file = saved_labels_path(store)
    c1, c2 = st.columns([3, 1])
    upload = c1.file_uploader("Labels file (CSV or TSV)", type=["csv", "tsv"], key="labels-upload")
    if upload is not None and c1.button("Use this labels file", key="labels-use", icon=":material/upload:"):
        with engine_errors("Labels file rejected"):
            parsed = save_labels_file(store, upload.getvalue(), upload.name)
            st.success(f"Saved: {parsed.summary()}", icon=":material/check_circle:")
            st.rerun()
    if saved_file is not None:
        c2.write("")
        if c2.button("Stop using the saved labels file", key="labels-remove", icon=":material/delete:"):
            remove_saved_labels(store)
            st.rerun()

    # -- settings and start ------------------------------------------------------------------------
    st.subheader("New evaluation")
    active = store.active_run_id()
    default_k = 8
    if active:
        default_k = next((r.k for r in store.run_records() if r.run_id == active), default_k)
    problems = backend_problems(store)   # backends that cannot run here are not offered (they would fail later)
    choices = [Configuration(b, ae).key for b in available_backends() if not problems.get(b) for ae in (False, True)]
    names = {k: Configuration.parse(k).name for k in choices}
    unusable = {b: why for b, why in problems.items() if why}
    if unusable:
        with st.expander(f"{len(unusable)} pose backends cannot run here", icon=":material/block:"):
            for b, why in unusable.items():
                st.markdown(f"- `{b}`: {why}")
    with st.form("eval-form"):
        picked = st.multiselect("Configurations (one column group each)", choices,
                                default=[k for k in ("blazepose", "blazepose+ae") if k in choices],
                                format_func=lambda k: names[k],
                                help="A backend without cached poses runs its pose model over the catalogue first.")
        c1, c2, c3 = st.columns(3)
        k = c1.number_input("K (pose clusters)", min_value=2, max_value=200, value=default_k, step=1)
        seeds = c2.number_input("Seeds (repeats)", min_value=1, max_value=20, value=3, step=1,
                                help="Each seed: a new held-out split, new training and new kept images.")
        holdout = c3.slider("Held-out share of labelled reference products", 0.0, 0.6, 0.25, 0.05)
        c4, c5, c6 = st.columns(3)
        keep_max = c4.number_input("Keep at most (the paper's p - 1)", min_value=1, max_value=20, value=4)
        keep_min = c5.number_input("Keep at least", min_value=1, max_value=20, value=2)
        draws = c6.number_input("Kept subsets per product and seed", min_value=1, max_value=50, value=5)
        answer_min = st.number_input(
            "Answer keys: products with at least this many images (0 = the subject threshold p)", min_value=0,
            max_value=50, value=0, help="A sparse listing's own photos are not a full answer: hiding one of 3 "
            "images makes every other view the system asks for count as wrong. Set it to 'Keep at least' + 1 to "
            "score sparse listings too.")
        go = st.form_submit_button("Evaluate", type="primary", icon=":material/fact_check:",
                                   disabled=running or labels is None or labels.empty)
    if go:
        with engine_errors("Cannot start the evaluation"):
            opts = EvalOptions(k=int(k), seeds=int(seeds), holdout=float(holdout), keep_min=int(keep_min),
                               keep_max=int(keep_max), draws=int(draws), answer_min=int(answer_min) or None)
            jobs.start_evaluate(store, picked, opts, by=page.actor)
            st.rerun()

    # -- results ---------------------------------------------------------------------------------
    st.subheader("Results")
    results = saved_results(store)
    if not results:
        st.info("No evaluation yet. `unposed evaluate` on the command line saves here too.", icon=":material/info:")
    else:
        ids = [r["id"] for r in results]
        rid = st.selectbox("Evaluation", ids, key="eval-pick",
                           format_func=lambda i: next(f"{r['id']} · {', '.join(r['configurations'])}"
                                                      for r in results if r["id"] == i))
        r = next(r for r in results if r["id"] == rid)
        o = r.get("options", {})
        answer = f" of {o['answer_min']}+ images" if o.get("answer_min") else ""
        st.caption(f"{o.get('n_products', 0)} labelled products{answer} × {o.get('seeds')} seeds × "
                   f"{o.get('draws')} draws, "
                   f"keeping {o.get('keep_min')}-{o.get('keep_max')} images; K={o.get('k')}; "
                   f"{o.get('holdout', 0):.0%} of labelled reference products held out per seed; labels: "
                   f"{o.get('labels', '')}; {r.get('seconds', 0):.0f} s")
        table = table_from_dict(r.get("table"), r["configurations"])
        if not table.empty:
            flat = table.copy()
            flat.columns = [f"{c} · {METRIC_TITLES.get(m, m)}" for c, m in table.columns]
            st.dataframe(flat, column_config={c: st.column_config.NumberColumn(format="%.4f") for c in flat.columns})
            winner = r.get("winner_f1")
            if winner:
                st.markdown(f"Best F1 over all subcategories: **{winner}**; best accuracy: "
                            f"**{r.get('winner_accuracy')}**.")
        strict = r.get("strict")
        if strict:
            st.markdown("**Stricter view**, all subcategories pooled: *specificity* is the share of kept views "
                        "the system does not flag again; *redundant* the flags per trial for a view the seller "
                        "already shows; the baselines keep the same ranking but look at no image, or give each "
                        "image a random pose; the *ceiling* is flagging every expected view the kept images do not "
                        "show, read from the labels: what a perfect reader of the photos would reach with this "
                        "ranking.")
            sdf = pd.DataFrame(strict).T.rename(columns={
                "accuracy": "Accuracy", "precision": "Precision", "f1": "F1", "specificity": "Specificity",
                "redundant_per_trial": "Redundant / trial", "flags_per_trial": "Flags / trial", "trials": "Trials"})
            fmt = {c: st.column_config.NumberColumn(format="%.4f" if c in ("Accuracy", "Precision", "F1", "Specificity")
                                                    else "%.2f") for c in sdf.columns}
            fmt["Trials"] = st.column_config.NumberColumn(format="%d")
            st.dataframe(sdf, column_config=fmt)
        reviewed = table_from_dict(r.get("reviewed"), r["configurations"])
        if not reviewed.empty:
            st.markdown("**Reviewed products** (all images kept; truth = the reviewer's missing views)")
            flat = reviewed.copy()
            flat.columns = [f"{c} · {METRIC_TITLES.get(m, m)}" for c, m in reviewed.columns]
            st.dataframe(flat)
        for n in r.get("notes", []):
            st.caption(f"Note: {n}")
        folder = Path(r["path"])
        d1, d2, _ = st.columns([1, 1, 3])
        d1.download_button("Result JSON", json.dumps(r, indent=1, default=str),
                           file_name=export_name("evaluation", rid, "json"),
                           mime="application/json", key="eval-json", on_click="ignore", icon=":material/download:")
        trials_path = folder / "trials.csv"
        if trials_path.is_file():
            d2.download_button("Every trial (CSV)", trials_path.read_bytes(),
                               file_name=export_name("evaluation-trials", rid, "csv"),
                               mime="text/csv", key="eval-csv", on_click="ignore", icon=":material/download:")
        with st.expander("As printed by `unposed evaluate`", icon=":material/terminal:"):
            st.code(r.get("text", ""), language=None)

    # -- reviewer judgements ---------------------------------------------------------------------
    st.subheader("Reviewer judgements")
    if active is None:
        st.caption("No active run.")
    else:
        jt = judgement_table(store, active)
        if jt.empty:
            st.caption(f"No product of the active run `{active}` has been reviewed yet: review the suggestions "
                       "under a product on the Product page.")
        else:
            st.caption(f"Active run `{active}`: accuracy = confirmed / (confirmed + added), precision = confirmed "
                       "/ suggested, over each reviewed product's latest judgement.")
            st.dataframe(jt, column_config={c: st.column_config.NumberColumn(format="%.4f")
                                            for c in ("accuracy", "precision", "f1")})

    # -- each cohort's operating point --------------------------------------------------------------
    st.subheader("Cohort settings")
    if active is not None:
        from ui.common import get_run
        from ui.judgements import render_cohort_settings

        render_cohort_settings(store, get_run(store, active))
