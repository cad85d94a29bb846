"""The report: every subject product's missing poses, one row each (CLI ``unposed report``, the
app's Report page, ``up.report``)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..config import SuggestConfig
from ..progress import ProgressFn, ProgressTracker
from ..records import Status
from ..runs import Run
from ..store import Store
from ..suggestions import Suggester


def report(store: Store, run: Run, product_ids: list[str] | None = None,
           progress: ProgressFn | None = None, config: SuggestConfig | None = None, *, engine: str = "local",
           workers: int | None = None, address: str | None = None, actors: int | None = None) -> pd.DataFrame:
    """Every subject product (or the given ones) with its missing poses in the order asked for
    (highest expected value first: ``suggestions.rule.expected_value``), its status and the reason
    when nothing is asked for. ``missing_poses``, ``top_missing`` (its first) and the other
    ``missing_*`` columns are the main list; ``also_worth_trying`` what comes below it.

    The poses of the products' images not cached yet under the run's backend are extracted
    first with ``engine`` (:func:`.pose.engines.fill_pose_cache`: ``"local"``, ``workers``
    processes, by default one per core for big jobs and in-process for small ones; ``"ray"``,
    ``actors`` on a local Ray or the cluster at ``address``), so the report itself only reads
    cached rows. The rows are the same whichever engine ran."""
    from ..catalog.selection import select_sets
    from ..pose.engines import check_engine, fill_pose_cache

    check_engine(engine, workers, actors, address)
    s = Suggester(store, run, n_references=3, config=config)
    if product_ids is None:
        product_ids = select_sets(s.products.reset_index(drop=True), s.images,
                                  run.config.selection).subject_ids
    hashes = s.images.loc[s.images["product_id"].isin(set(product_ids)), "content_hash"].unique().tolist()
    rows = []
    try:
        fill_pose_cache(store, run.config.pose_options(), hashes, run.info.identity, engine=engine, workers=workers,
                        actors=actors, address=address, progress=progress, who=f"run {run.run_id}")
        tracker = ProgressTracker("report", len(product_ids), progress)
        for pid, sug in zip(product_ids, s.for_products(product_ids), strict=True):
            tracker.update()
            rows.append({
                "product_id": pid, "title": sug.title,
                "category": s.products.at[pid, "category"], "subcategory": s.products.at[pid, "subcategory"],
                "product_type": s.products.at[pid, "product_type"], "cohort": sug.cohort,
                "cohort_level": sug.cohort_level, "n_images": len(sug.images),
                "n_failed_images": sum(a.status == Status.ERROR for a in sug.images),
                "n_duplicate_images": sum(a.duplicate_of is not None for a in sug.images),
                "flagged_images": "; ".join(f"{Path(a.image).name}: {', '.join(a.flags)}"
                                            for a in sug.images if a.flags),
                "present_poses": " ".join(map(str, sug.present)), "n_missing": len(sug.missing),
                "status": sug.status, "reason": sug.reason,
                "top_missing": sug.missing[0].description if sug.missing else "",   # the main list's first
                "missing_poses": "; ".join(f"{m.description} ({m.confidence:.2f})" for m in sug.missing),
                "missing_classes": " ".join(str(m.pose_class) for m in sug.missing),
                "missing_groups": " ".join(str(m.group) for m in sug.missing),
                "confidence": " ".join(f"{m.confidence:.2f}" for m in sug.missing),
                "top_confidence": round(sug.missing[0].confidence, 3) if sug.missing else None,
                "completeness": sug.completeness,
                "n_expected": len(sug.expected_groups),
                "missing_hints": " | ".join(m.hint for m in sug.missing),
                "missing_examples": " | ".join(" ".join(r.path for r in m.references) for m in sug.missing),
                # below the main list: under SuggestConfig.also_below, or expected only for the ranker's score
                "n_also": len(sug.also),
                "also_worth_trying": "; ".join(f"{m.description} ({m.confidence:.2f})" for m in sug.also),
            })
    finally:
        s.close()
    tracker.finish()
    return pd.DataFrame(rows)
