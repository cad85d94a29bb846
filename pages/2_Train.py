"""Train: settings, a background training job with a live progress bar, past runs."""
from __future__ import annotations

import dataclasses
import importlib.util
import json

import pandas as pd
import streamlit as st

from ui import frame
from ui.common import backend_problems, engine_errors, require_catalogue
from ui.jobs_view import job_panel
from unpose_core import jobs
from unpose_core.config import TrainConfig
from unpose_core.lineage import activate_run
from unpose_core.pose import available_backends

with frame.page("Train") as page:
    store = page.store
    st.caption("Extract poses for the catalogue (cached: only new images cost time), cluster the reference "
               "products' poses with K-Means and rank the poses per cohort with LightGBM. The new run becomes "
               "the active one; descriptions and pose-group marks written for the previous run move to their "
               "matching centroids (those that match none are listed on the Clusters page).")
    require_catalogue(store)

    job = job_panel(store, key="train-panel", kinds=("train", "demo"))
    running = job is not None and job.running
    if job is not None and not running and job.status == jobs.DONE and job.result and job.result.get("run_id"):
        r = job.result
        s = r.get("summary", {})
        st.caption(f"Run `{r['run_id']}`: {s.get('n_reference_images')} reference images "
                   f"({s.get('n_no_person')} without a person), inertia {s.get('inertia', 0):.0f}.")

    active = store.active_run_id()
    base = TrainConfig()
    if active:
        with engine_errors("The active run's settings cannot be read"):
            base = TrainConfig.from_dict(store.run(active).config)

    ae_available = importlib.util.find_spec("unpose_core.embed.autoencoder") is not None
    backends = available_backends()
    problems = backend_problems(store)
    st.subheader("New run")
    c1, _ = st.columns([1, 3])
    # outside the form: a backend that cannot run here disables the button at once, with the fix
    backend = c1.selectbox("Pose backend", backends,
                           index=backends.index(base.backend) if base.backend in backends else 0,
                           format_func=lambda b: b if not problems.get(b) else f"{b} (not usable here)",
                           key="train-backend")
    problem = problems.get(backend)
    if problem:
        st.warning(f"`{backend}` cannot run here: {problem}", icon=":material/block:")
    with st.form("train-form"):
        c2, c3, c4 = st.columns(3)
        k = c2.number_input("K (pose clusters)", min_value=2, max_value=200, value=int(base.k), step=1)
        seed = c3.number_input("Seed", min_value=0, value=int(base.seed), step=1)
        autoencoder = c4.checkbox("Autoencoder (compress to 8 dims first)",
                                  value=bool(base.autoencoder) and ae_available, disabled=not ae_available,
                                  help=None if ae_available else "The autoencoder module is not installed yet.")
        st.markdown("**Popularity** (the ranker's target)")
        p1, p2, p3 = st.columns(3)
        rating_w = p1.slider("Weight of the average rating", 0.0, 1.0, float(base.rating_weight), 0.05)
        count_w = p2.slider("Weight of the number of ratings", 0.0, 1.0, float(base.count_weight), 0.05)
        share = p3.slider("Floor: a pose is never expected below this share of a cohort's top products", 0.0, 1.0,
                          float(base.min_cohort_share), 0.05,
                          help="Expectations are calibrated per cohort (Product page: the rule); this absolute "
                               "floor comes on top. 0 lets small listings count.")
        st.markdown("**Reference and subject products**")
        s1, s2, s3 = st.columns(3)
        top_k = s1.number_input("Reference products kept (most popular first)", 1, 1_000_000,
                                int(base.selection.top_k))
        min_images = s2.number_input("Reference products have more images than", 0, 100,
                                     int(base.selection.min_images))
        subject_max = s3.number_input("Subject products have fewer images than", 1, 100,
                                      int(base.selection.subject_max_images))
        submitted = st.form_submit_button("Extract poses and train", type="primary",
                                          disabled=running or bool(problem), icon=":material/play_arrow:",
                                          help=problem)
    if submitted:
        # the active run's settings with what this form shows changed: every field it does not show
        # (views, mirror_equivalent, backend_params, niter, nredo, popularity_order, ...) is kept
        cfg = dataclasses.replace(
            base, backend=backend, k=int(k), seed=int(seed), autoencoder=bool(autoencoder),
            rating_weight=float(rating_w), count_weight=float(count_w), min_cohort_share=float(share),
            selection=dataclasses.replace(base.selection, top_k=int(top_k), min_images=int(min_images),
                                          subject_max_images=int(subject_max)))
        with engine_errors("Cannot start training"):
            jobs.start_train(store, cfg, by=page.actor)
            st.rerun()

    # -- runs --------------------------------------------------------------------------------
    st.subheader("Runs")
    runs = store.runs()
    if runs.empty:
        st.caption("No runs yet.")
    else:
        rows = []
        for r in runs.itertuples():
            summ, cfg = json.loads(r.summary or "{}"), json.loads(r.config or "{}")
            rows.append({"active": "●" if r.run_id == active else "", "run_id": r.run_id,
                         "created": pd.to_datetime(r.created_at, unit="s").strftime("%Y-%m-%d %H:%M"),
                         "backend": r.backend, "K": r.k, "autoencoder": bool(cfg.get("autoencoder")),
                         "reference products": summ.get("n_reference_products"),
                         "reference images": summ.get("n_reference_images"),
                         "no-person": summ.get("n_no_person"), "inertia": summ.get("inertia")})
        st.dataframe(pd.DataFrame(rows), hide_index=True,
                     column_config={"inertia": st.column_config.NumberColumn(format="%.0f")})
        ids = runs["run_id"].tolist()
        if st.session_state.get("run-pick-active") != active:   # a new active run: the picker follows it
            st.session_state["run-pick-active"] = active
            if active in ids:
                st.session_state["run-pick"] = active
        c1, c2 = st.columns([3, 1])
        pick = c1.selectbox("Run", ids, key="run-pick")
        c2.write("")
        if c2.button("Make active", disabled=pick == active or running, icon=":material/check:"):
            with engine_errors("Cannot switch runs"):
                # a run never active before gets the labels, as after training
                activate_run(store, pick, by=page.actor)
                st.rerun()

    with st.expander("Job history", icon=":material/history:"):
        st.dataframe(jobs.history(store), hide_index=True)
