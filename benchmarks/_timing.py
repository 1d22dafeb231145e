"""What the benchmark scripts share: the best wall time of repeated calls."""

from __future__ import annotations

import time


def best_of(fn, repeat: int) -> tuple[float, object]:
    """Best wall time of ``repeat`` calls (seconds) and the last result."""
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out
