"""Closed-loop load for the peer drivers (dbos_bench.py, temporal_bench.py), measured the way keel-load measures.

Each of `callers` clients is a loop: start one workflow, wait for its result, start the next. Workflows that start
during the warmup are not counted; after the warmup, clients start workflows for `duration` seconds and the run
ends when the last of them has finished. The measured time runs from the end of the warmup to the end of the last
measured workflow, and

    throughput = measured workflows that succeeded / measured time

Latency is per workflow, from calling the client API to having its result, as the caller sees it. Percentiles are
nearest-rank over every measured workflow (keel-load uses an HdrHistogram with 3 significant digits: the same to
within 0.1 %).

`machine_cpu_cores` is the whole machine's busy CPU over the measured window, from /proc/stat (user + nice +
system + irq + softirq + steal), in cores: it includes the system under test, its database, the driver and
anything else running, which is the point on a 2-core machine where they all share the CPU.

Every driver prints one JSON line with the fields of `result()`, which scripts/bench/peers.sh tabulates.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import platform
import shlex
import sys
import threading
import time
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple


def cpu_snapshot() -> Tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from the first line of /proc/stat."""
    try:
        with open("/proc/stat", encoding="ascii") as file:
            fields = [int(x) for x in file.readline().split()[1:]]
    except OSError:
        return (0, 0)
    # user nice system idle iowait irq softirq steal guest guest_nice (guest time is already in user/nice)
    fields += [0] * (8 - len(fields))
    user, nice, system, idle, iowait, irq, softirq, steal = fields[:8]
    busy = user + nice + system + irq + softirq + steal
    return (busy, busy + idle + iowait)


def busy_cores(before: Tuple[int, int], after: Tuple[int, int]) -> Optional[float]:
    total = after[1] - before[1]
    if total <= 0:
        return None
    return (after[0] - before[0]) / total * (os.cpu_count() or 1)


def percentile(sorted_values: List[float], p: float) -> Optional[float]:
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


class Recorder:
    """Collects (start, end, ok, error) of each workflow; thread-safe enough for list.append under the GIL."""

    def __init__(self, warmup: float, duration: float) -> None:
        self.begin = time.perf_counter()
        self.measure_from = self.begin + warmup
        self.deadline = self.measure_from + duration
        self.samples: List[Tuple[float, float]] = []
        self.failed = 0
        self.errors: Dict[str, int] = {}
        self.cpu_before: Optional[Tuple[int, int]] = None
        self._lock = threading.Lock()

    def take_cpu_snapshot_if_due(self, now: float) -> None:
        if self.cpu_before is None and now >= self.measure_from:
            with self._lock:
                if self.cpu_before is None:
                    self.cpu_before = cpu_snapshot()

    def record(self, start: float, end: float, error: Optional[BaseException]) -> None:
        if start < self.measure_from:
            return
        if error is None:
            self.samples.append((start, end))
        else:
            with self._lock:
                self.failed += 1
                message = f"{type(error).__name__}: {error}"[:300]
                self.errors[message] = self.errors.get(message, 0) + 1


def result(recorder: Recorder, *, system: str, config: str, callers: int, facts: Dict[str, Any]) -> Dict[str, Any]:
    cpu_after = cpu_snapshot()
    ends = [end for _, end in recorder.samples]
    last_end = max(ends) if ends else time.perf_counter()
    measured = max(last_end - recorder.measure_from, 1e-9)
    latencies = sorted((end - start) * 1000.0 for start, end in recorder.samples)
    ok = len(latencies)
    return {
        "system": system,
        "config": config,
        "callers": callers,
        "ok": ok > 0 and recorder.failed == 0,
        "succeeded": ok,
        "failed": recorder.failed,
        "errors": sorted(recorder.errors.items(), key=lambda kv: -kv[1])[:5],
        "seconds": round(measured, 3),
        "throughput": ok / measured,
        "p50_ms": percentile(latencies, 50),
        "p90_ms": percentile(latencies, 90),
        "p99_ms": percentile(latencies, 99),
        "max_ms": latencies[-1] if latencies else None,
        "mean_ms": (sum(latencies) / ok) if ok else None,
        "machine_cpu_cores": busy_cores(recorder.cpu_before, cpu_after) if recorder.cpu_before else None,
        "facts": facts,
        "command": command_line(),
    }


def failure(*, system: str, config: str, callers: int, reason: str, facts: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    return {"system": system, "config": config, "callers": callers, "ok": False, "succeeded": 0, "failed": 0,
            "errors": [[reason[:500], 1]], "throughput": None, "p50_ms": None, "p99_ms": None,
            "reason": reason[:500], "facts": facts or {}, "command": command_line()}


def command_line() -> str:
    return shlex.join([sys.executable] + sys.argv)


async def run_async(call: Callable[[], Awaitable[Any]], *, callers: int, warmup: float, duration: float) -> Recorder:
    """`callers` asyncio tasks, each a closed loop of `await call()`."""
    recorder = Recorder(warmup, duration)

    async def client() -> None:
        while True:
            start = time.perf_counter()
            if start >= recorder.deadline:
                return
            recorder.take_cpu_snapshot_if_due(start)
            error: Optional[BaseException] = None
            try:
                await call()
            except Exception as exc:  # noqa: BLE001 (counted and reported)
                error = exc
            recorder.record(start, time.perf_counter(), error)

    await asyncio.gather(*(client() for _ in range(callers)))
    return recorder


def run_threads(call: Callable[[], Any], *, callers: int, warmup: float, duration: float) -> Recorder:
    """`callers` OS threads, each a closed loop of `call()`."""
    recorder = Recorder(warmup, duration)

    def client() -> None:
        while True:
            start = time.perf_counter()
            if start >= recorder.deadline:
                return
            recorder.take_cpu_snapshot_if_due(start)
            error: Optional[BaseException] = None
            try:
                call()
            except Exception as exc:  # noqa: BLE001
                error = exc
            recorder.record(start, time.perf_counter(), error)

    threads = [threading.Thread(target=client, name=f"caller-{i}", daemon=True) for i in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return recorder


def python_facts() -> Dict[str, Any]:
    return {"python": platform.python_version(), "executable": sys.executable}


def emit(line: Dict[str, Any]) -> None:
    """The one JSON line on stdout that peers.sh reads (the last line that starts with '{')."""
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()
