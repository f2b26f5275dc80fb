"""Files read in parallel, results in order: both cores for large folders.

``ordered_map(fn, items, sizes)`` yields ``fn(item)`` for each item in the items' order.
Large inputs go to a pool of forked worker processes, with at most a few results waiting
at any time (memory stays bounded); small inputs, a single core, or a process with other
threads (forking one is unsafe) run in this process. ``fn`` must be a module-level
function whose arguments and results pickle.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Final, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import Future

T = TypeVar("T")
R = TypeVar("R")

PARALLEL_BYTES: Final = 24 * 1024 * 1024
"""Below this much input, starting workers costs more than it saves."""
MAX_WORKERS: Final = 8


def workers_for(total_bytes: int, requested: int | None = None) -> int:
    """How many worker processes to read ``total_bytes`` with (0: read here)."""
    if requested is not None:
        return max(0, requested)
    if total_bytes < PARALLEL_BYTES or threading.active_count() > 1:
        return 0
    import multiprocessing  # here: a small input never pays for importing it

    if "fork" not in multiprocessing.get_all_start_methods():
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    n = min(MAX_WORKERS, cores or 1)
    return n if n > 1 else 0


def ordered_map(fn: Callable[[T], R], items: Sequence[T], workers: int = 0) -> Iterator[R]:
    """``fn(item)`` for each item, in order; in ``workers`` forked processes when > 0."""
    if workers <= 0 or len(items) < 2:
        for item in items:
            yield fn(item)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("fork")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
    try:
        window = 4 * workers
        pending: deque[Future[R]] = deque()
        queued = iter(items)
        for item in queued:
            pending.append(pool.submit(fn, item))
            if len(pending) >= window:
                break
        while pending:
            result = pending.popleft().result()
            for item in queued:
                pending.append(pool.submit(fn, item))
                break
            yield result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
