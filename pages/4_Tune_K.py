"""Tune K: sweep a K range over the active run's reference poses, then retrain with the K you pick."""
from __future__ import annotations

import dataclasses

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from ui import frame
from ui.common import engine_errors, require_run
from ui.jobs_view import job_panel
from unpose_core import jobs
from unpose_core.evaluation.judgements import load_labels
from unpose_core.evaluation.protocol import Configuration, EvalOptions
from unpose_core.evaluation.results import saved_results

with frame.page("Tune K") as page:
    store = page.store
    st.caption("K-Means for each K over the active run's reference poses: inertia (look for the elbow), "
               "silhouette on a sample (higher = tighter, better separated clusters), size balance "
               "(1 = equal sizes) and, where the catalogue has pose labels, purity against them.")
    run = require_run(store)
    n_points = int(((run.reference["pose_class"] >= 0) & (run.reference["pose_class"] < run.k)).sum())
    max_k = max(2, min(80, n_points - 1))

    job = job_panel(store, key="sweep-panel", kinds=("sweep", "train", "evaluate"))
    running = job is not None and job.running

    with st.form("sweep-form"):
        c1, c2, c3 = st.columns([2, 1, 1])
        lo_default, hi_default = max(2, min(run.k - 6, max_k)), min(max_k, run.k + 6)
        k_range = c1.slider("K range", 2, max_k, (min(lo_default, hi_default), hi_default))
        step = c2.number_input("Step", 1, 20, 1)
        sample = c3.number_input("Silhouette sample", 200, 50_000, 5000, step=500)
        go_sweep = st.form_submit_button("Run the sweep", type="primary", disabled=running,
                                         icon=":material/play_arrow:")
    if go_sweep:
        with engine_errors("Cannot start the sweep"):
            jobs.start_sweep(store, run.run_id, list(range(k_range[0], k_range[1] + 1, int(step))), int(sample),
                             by=page.actor)
            st.rerun()

    last = None
    for j in [jobs.latest(store, kind="sweep", status=jobs.DONE)]:
        if j is not None and j.result and j.result.get("run_id") == run.run_id:
            last = j
    if last is None:
        st.info(f"No sweep for run `{run.run_id}` yet: pick a K range and run it ({n_points} poses; a few "
                "seconds for the demo).", icon=":material/tune:")
    else:
        res = last.result
        df = pd.DataFrame(res["rows"])
        panels = [("inertia", "Inertia (elbow)"), ("silhouette", "Silhouette"), ("balance", "Size balance")]
        if res.get("has_labels") and "purity" in df:
            panels.append(("purity", "Purity vs. pose labels"))
        fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[t for _, t in panels],
                            horizontal_spacing=0.06)
        for i, (col, _) in enumerate(panels, 1):
            fig.add_trace(go.Scatter(x=df["k"], y=df[col], mode="lines+markers", name=col, showlegend=False,
                                     line={"width": 2}), row=1, col=i)
            fig.add_vline(x=run.k, line_dash="dot", line_color="#999", row=1, col=i)
            fig.update_xaxes(title_text="K", row=1, col=i)
        fig.update_layout(height=330, margin={"l": 10, "r": 10, "t": 40, "b": 10})
        st.plotly_chart(fig, key="sweep-chart")
        st.caption(f"{res['n_points']} reference poses, sweep finished "
                   f"{pd.to_datetime(last.finished_at, unit='s'):%Y-%m-%d %H:%M}; dotted line = the active run's "
                   f"K={run.k}.")
        best = {}
        for col in ("silhouette", "purity"):
            if col in df and df[col].notna().any():
                best[col] = int(df.loc[df[col].idxmax(), "k"])
        if best:
            st.markdown(" · ".join(f"best {c}: **K={k}**" for c, k in best.items()))
        st.dataframe(df, hide_index=True, column_config={
            "inertia": st.column_config.NumberColumn(format="%.0f"),
            "silhouette": st.column_config.NumberColumn(format="%.3f"),
            "balance": st.column_config.NumberColumn(format="%.3f"),
            "purity": st.column_config.NumberColumn(format="%.3f")})

    st.subheader("Suggestion quality per K")
    st.caption("What a K does to the suggestions themselves: the hide-and-complete evaluation (`unposed evaluate "
               "--k 6,8,10`) trains a run per K on the labelled catalogue minus held-out products, hides images "
               "and checks the missing poses asked for: recall (the paper's accuracy) and precision, beside "
               "flagging every expected pose. Needs view labels (a pose_label column or a labels file).")
    config_key = run.config.backend + ("+ae" if run.config.autoencoder else "")
    config_name = Configuration.parse(config_key).name
    quality = None
    for r in saved_results(store):
        rows = pd.DataFrame(r.get("sweep") or [])
        if len(rows) and rows["k"].nunique() > 1 and config_name in set(rows["configuration"]):
            first = ((r.get("options") or {}).get("settings") or [{}])[0].get("label")
            rows = rows[(rows["configuration"] == config_name) & ((rows["setting"] == first) if first else True)]
            quality = (r, rows.sort_values("k"))
            break
    with st.form("quality-form"):
        q1, q2, q3 = st.columns([2, 1, 1])
        q_range = q1.slider("K range", 2, max_k, (min(lo_default, hi_default), hi_default), key="quality-range")
        q_step = q2.number_input("Step", 1, 20, 2, key="quality-step")
        q_seeds = q3.number_input("Seeds", 1, 5, 1, key="quality-seeds")
        go_quality = st.form_submit_button("Measure suggestion quality", disabled=running,
                                           icon=":material/fact_check:")
    if go_quality:
        with engine_errors("Cannot start the evaluation"):
            if load_labels(store).empty:
                raise ValueError("no view labels: import a catalogue with a pose_label column or upload a labels "
                                 "file on the Evaluate page")
            ks = list(range(q_range[0], q_range[1] + 1, int(q_step)))
            jobs.start_evaluate(store, [config_key], EvalOptions(ks=ks, k=ks[0], seeds=int(q_seeds), draws=3),
                                by=page.actor)
            st.rerun()
    if quality is None:
        st.info("No K sweep of the suggestions yet: measure it above (about 3 s per K and seed on the demo).",
                icon=":material/fact_check:")
    else:
        r, rows = quality
        fig = go.Figure()
        for col, name, dash in (("accuracy", "Recall (paper accuracy)", None), ("precision", "Precision", None),
                                ("all_precision", "Precision, flagging every expected pose", "dot"),
                                ("random_precision", "Precision, a random pose per image", "dash"),
                                ("ceiling_precision", "Precision ceiling: no shown view asked again", "dashdot")):
            if col not in rows.columns:   # evaluations saved before the ceiling was measured
                continue
            fig.add_trace(go.Scatter(x=rows["k"], y=rows[col], mode="lines+markers", name=name,
                                     line={"width": 2, "dash": dash}))
        fig.add_vline(x=run.k, line_dash="dot", line_color="#999")
        fig.update_layout(height=330, margin={"l": 10, "r": 10, "t": 30, "b": 10}, xaxis_title="K",
                          yaxis_range=[0, 1], legend={"orientation": "h"})
        st.plotly_chart(fig, key="quality-chart")
        st.caption(f"{config_name}, {rows['setting'].iloc[0]}; evaluation {r.get('id')} "
                   f"({(r.get('options') or {}).get('seeds')} seed(s)). All settings: the Evaluate page.")
        shown = [c for c in ("k", "accuracy", "precision", "f1", "flags_per_trial", "all_precision",
                             "random_precision", "ceiling_precision", "precision_gain") if c in rows.columns]
        st.dataframe(rows[shown], hide_index=True,
                     column_config={c: st.column_config.NumberColumn(format="%.3f") for c in shown
                                    if c not in ("k", "flags_per_trial")})

    st.subheader("Retrain")
    # the proposed K and why; the field starts from it and the button reads the field, so both agree
    proposed, why = run.k, f"the active run's K (no sweep of run `{run.run_id}` yet)"
    if last is not None:
        df = pd.DataFrame(last.result["rows"])
        col = "purity" if "purity" in df and df["purity"].notna().any() else "silhouette"
        if df[col].notna().any():
            proposed = int(df.loc[df[col].idxmax(), "k"])
            why = (f"the highest purity against the catalogue's pose labels in the last sweep (K "
                   f"{int(df['k'].min())}–{int(df['k'].max())})" if col == "purity" else
                   f"the highest silhouette in the last sweep (K {int(df['k'].min())}–{int(df['k'].max())}; "
                   "the catalogue has no pose labels for purity)")
    if st.session_state.get("retrain-k-proposed") != (run.run_id, proposed):
        st.session_state["retrain-k-proposed"] = (run.run_id, proposed)
        st.session_state["retrain-k"] = proposed      # a new proposal resets the field (and says why)
    c1, c2 = st.columns([1, 3])
    new_k = int(c1.number_input("K", 2, 200, key="retrain-k"))
    c2.write("")
    if c2.button(f"Retrain with K={new_k} (other settings as the active run)", disabled=running,
                 icon=":material/model_training:", key="retrain-go"):
        with engine_errors("Cannot start training"):
            jobs.start_train(store, dataclasses.replace(run.config, k=new_k), by=page.actor)
            st.rerun()
    st.caption(f"Proposed K={proposed}: {why}." + ("" if new_k == proposed else f" You chose K={new_k}."))
