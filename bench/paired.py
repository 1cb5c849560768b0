"""Paired rounds: ours and the reference alternate, so both see the same machine; report the
medians and the median of the per-round ratios, with the load while measuring."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Paired:
    ours: float          # median seconds
    reference: float     # median seconds
    ratio: float         # median of ours / reference, round by round
    rounds: int
    load: float          # 1-minute load average at the end


def seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def paired(ours: Callable[[], object], reference: Callable[[], object], rounds: int) -> Paired:
    ours(), reference()                       # warm-up: caches, bytecode, page cache
    pairs = []
    for n in range(rounds):                   # alternate which goes first
        if n % 2:
            r, o = seconds(reference), seconds(ours)
        else:
            o, r = seconds(ours), seconds(reference)
        pairs.append((o, r))
    return Paired(statistics.median(o for o, _ in pairs), statistics.median(r for _, r in pairs),
                  statistics.median(o / r for o, r in pairs), rounds, os.getloadavg()[0])


def machine() -> str:
    return f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} before measuring"
