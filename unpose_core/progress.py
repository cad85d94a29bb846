"""Progress reporting shared by the CLI (tqdm) and the app (st.progress).

Long functions take ``progress: ProgressFn | None`` and call it with a
:class:`Progress`; callers render it however they like.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Progress:
    stage: str
    done: int
    total: int
    message: str = ""
    rate: float = 0.0          # items per second since the stage started
    eta_seconds: float | None = None

    @property
    def fraction(self) -> float:
        return 1.0 if self.total <= 0 else min(1.0, self.done / self.total)


ProgressFn = Callable[[Progress], None]


class ProgressTracker:
    """Computes rate and ETA for one stage and forwards to a callback (or nowhere)."""

    def __init__(self, stage: str, total: int, callback: ProgressFn | None, min_interval: float = 0.2):
        self.stage, self.total, self.callback = stage, total, callback
        self.min_interval = min_interval
        self.start = time.perf_counter()
        self._last = 0.0
        self.done = 0

    def update(self, done: int | None = None, message: str = "", force: bool = False) -> None:
        self.done = self.done + 1 if done is None else done
        if self.callback is None:
            return
        now = time.perf_counter()
        if not force and self.done < self.total and now - self._last < self.min_interval:
            return
        self._last = now
        elapsed = max(now - self.start, 1e-9)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate > 0 else None
        self.callback(Progress(self.stage, self.done, self.total, message, rate, eta))

    def finish(self, message: str = "") -> None:
        self.update(self.total, message, force=True)


def tqdm_progress() -> ProgressFn:
    """A callback drawing one tqdm bar per stage (for the CLI)."""
    from tqdm import tqdm

    bars: dict[str, tqdm] = {}

    def callback(p: Progress) -> None:
        bar = bars.get(p.stage)
        if bar is None:
            bar = bars[p.stage] = tqdm(total=p.total, desc=p.stage, unit="img", dynamic_ncols=True)
        bar.total = p.total
        bar.n = p.done
        if p.message:
            bar.set_postfix_str(p.message, refresh=False)
        bar.refresh()
        if p.done >= p.total:
            bar.close()
            bars.pop(p.stage, None)

    return callback
