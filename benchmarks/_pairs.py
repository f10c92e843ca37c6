"""Paired, interleaved A/B measurement, and the one line every benchmark reports through.

On a shared machine the load changes from second to second, so two figures taken one after the
other differ by the drift between them, not only by what they measure. Here A and B run in short
alternating slices (A B B A A B ...: each pair in turn leads, so a steady drift favours neither),
each pair of neighbouring slices gives one ratio B/A, and the result is the **median of those
ratios** with their spread (the interquartile range, and min-max). A load spike spoils one pair,
not the figure.

    from _pairs import paired, emit, cpu_per_call

    pair = paired(lambda: cost_of(ours), lambda: cost_of(baseline), slices=15)
    print(pair.line("µs per call", "ours", "bare"))
    emit("session_overhead", {"seq_ratio": pair.as_dict()})

Each slice function returns one figure (seconds per operation, µs per number …: lower is
better, or any figure whose ratio is meant). ``apaired`` does the same with async slices.

What keeps a figure still from one run to the next:

* **CPU time, not wall time**, when what is measured is our own CPU: :func:`cpu_per_call` reads
  the CPU time of the measuring thread (``time.thread_time``), which other processes on the
  machine cannot add to (only slow down a little through shared caches, alike for A and B);
  measure a whole client (threads included) with ``time.process_time`` instead;
* **many short slices**: a slice of a few milliseconds rarely meets a load spike, and the median
  of 40 ratios barely moves when a few are spoiled;
* **warm-up discarded**: the first ``warmup`` pairs (caches, pools, the allocator's arenas still
  filling) are run but not counted;
* **no garbage collection inside a slice**: the collector is disabled while A and B run and
  collects between pairs, so a collection of the other side's garbage never lands in a slice;
* **several processes**: a process's memory layout and hash seed move a ratio of microsecond
  costs by several per cent from one process to the next (more than its pairs scatter), so a
  figure that must hold still from run to run pools the pairs of several fresh processes
  (:func:`in_processes`, :func:`pool`), as pyperf runs its worker processes.

The JSON convention (``benchmarks/run.py`` collects it): a benchmark prints at most one line per
figure set of the form ``BENCH-JSON: {"name": ..., ...}``, one JSON object on one line, anywhere in
its stdout; everything else it prints is for people. ``emit`` writes such a line. A figure set
that holds ratios should hold them as :meth:`Pair.as_dict` objects (``run.py --twice`` compares
every ``ratio`` it finds between two runs).
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from typing import Any

MARK = "BENCH-JSON: "

#: The clock of CPU-bound slices: CPU seconds of the calling thread.
cpu_clock = time.thread_time


@dataclass(frozen=True)
class Pair:
    """The outcome of a paired measurement: medians of A and B and of the paired ratios B/A."""

    a: float
    b: float
    ratio: float
    q1: float
    q3: float
    low: float
    high: float
    slices: int
    #: Each counted pair's (A, B) figures, for :func:`pool` (left out of :meth:`as_dict`).
    samples: tuple[tuple[float, float], ...] = field(default=(), repr=False, compare=False)
    #: With :func:`pool`: the median ratio of each process whose pairs were pooled.
    processes: tuple[float, ...] = field(default=(), compare=False)

    @property
    def spread(self) -> float:
        """Half the interquartile range of the ratios, relative to their median."""
        return (self.q3 - self.q1) / 2 / self.ratio if self.ratio else 0.0

    def line(self, unit: str, a_name: str, b_name: str, digits: int = 2) -> str:
        """One human line: both medians and the ratio with its spread."""
        made = f"{self.slices} pairs"
        if self.processes:
            made += (
                f" from {len(self.processes)} processes, whose own medians range "
                f"{min(self.processes):.3f}-{max(self.processes):.3f}"
            )
        return (
            f"{a_name} {self.a:.{digits}f} {unit}, {b_name} {self.b:.{digits}f} {unit}: "
            f"{b_name}/{a_name} = {self.ratio:.3f} (IQR {self.q1:.3f}-{self.q3:.3f}, "
            f"range {self.low:.3f}-{self.high:.3f}, {made})"
        )

    def as_dict(self) -> dict[str, Any]:
        """The figures, rounded for a JSON report (``spread``: half the IQR over the median)."""
        figures: dict[str, Any] = {
            f.name: round(v, 6) if isinstance(v, float) else v
            for f in fields(self)
            if f.name not in ("samples", "processes")
            for v in [getattr(self, f.name)]
        }
        figures["spread"] = round(self.spread, 4)
        if self.processes:
            # The spread between processes: what one process alone would have shown.
            figures["processes"] = [round(r, 4) for r in self.processes]
        return figures

    def to_json(self) -> dict[str, Any]:
        """Everything, samples included: what a worker process hands to :func:`pool`."""
        return {"samples": [list(ab) for ab in self.samples]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Pair:
        """The pair a worker process wrote with :meth:`to_json`."""
        samples = [(float(a), float(b)) for a, b in data["samples"]]
        return _summary([a for a, _ in samples], [b for _, b in samples])


def _summary(a: list[float], b: list[float]) -> Pair:
    ratios = sorted(y / x for x, y in zip(a, b, strict=True) if x > 0)
    if not ratios:
        raise ValueError("no slice gave a positive A figure")
    q1, _, q3 = statistics.quantiles(ratios, n=4) if len(ratios) >= 2 else (ratios[0],) * 3
    return Pair(
        a=statistics.median(a),
        b=statistics.median(b),
        ratio=statistics.median(ratios),
        q1=q1,
        q3=q3,
        low=ratios[0],
        high=ratios[-1],
        slices=len(ratios),
        samples=tuple(zip(a, b, strict=True)),
    )


def summarize(a: list[float], b: list[float]) -> Pair:
    """The pair summary of figures measured elsewhere, pair ``i`` being ``(a[i], b[i])``.

    For A/B figures that a benchmark pairs itself (slices run by other processes, the two
    sides of a pair run at the same time).
    """
    return _summary(a, b)


def summarize_medians(a: list[float], b: list[float]) -> Pair:
    """Like :func:`summarize`, but ``a``, ``b`` and ``ratio`` are each side's own median.

    For a few costly pairs whose A figure falls in two modes (a rehash of a large table costs
    1.5-2x more in one fresh process than in the next, as the host places its memory). The
    median of the paired ratios jumps between the modes as their shares move by one pair; the
    mean of each side moves by the share (two runs of 21 pairs: the ratio of means moved 5.4 %,
    from one high-mode run more or less). Each side's median stays in its main mode while fewer
    than half its runs fall in the other: the same two runs' ratio of medians moved 0.1 %. The
    interquartile range and the range are still the paired ratios'.
    """
    summary = _summary(a, b)
    median_a, median_b = statistics.median(a), statistics.median(b)
    return replace(summary, a=median_a, b=median_b, ratio=median_b / median_a)


def pool(pairs: list[Pair]) -> Pair:
    """One figure from the pairs of several processes: every pair counted, each process named.

    A process has its own memory layout and hash seed, and on this machine those move a paired
    ratio by several per cent from one process to the next, far more than the pairs inside one
    process scatter (see ``processes`` in :meth:`Pair.as_dict`). Pooling the pairs of several
    fresh processes measures the code, not one process's layout.
    """
    a = [x for p in pairs for x, _ in p.samples]
    b = [y for p in pairs for _, y in p.samples]
    pooled = _summary(a, b)
    return Pair(
        **{f.name: getattr(pooled, f.name) for f in fields(pooled) if f.name != "processes"},
        processes=tuple(p.ratio for p in pairs),
    )


def in_processes(
    argv: list[str], processes: int, *, worker_flag: str = "--worker"
) -> list[dict[str, Any]]:
    """Run ``python argv... --worker`` in ``processes`` fresh processes, one after the other.

    Returns each process's ``BENCH-JSON`` figure sets (its first one). A worker prints its pairs
    with :meth:`Pair.to_json`; the caller pools them with :func:`pool`. Processes run in turn,
    never side by side, so none measures while another loads the machine.
    """
    import subprocess

    found = []
    for _ in range(processes):
        proc = subprocess.run(
            [sys.executable, *argv, worker_flag], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise RuntimeError(f"worker {argv!r} failed:\n{proc.stderr[-2000:]}")
        sets = collect(proc.stdout)
        if not sets:
            raise RuntimeError(f"worker {argv!r} printed no figures:\n{proc.stdout[-2000:]}")
        found.append(sets[0])
    return found


@contextmanager
def one_core(*pids: int) -> Iterator[None]:
    """Run the calling thread (and threads it starts) and the processes ``pids`` on one CPU.

    For latency across a socket or a thread hop on a VM: between two vCPUs each round trip
    wakes an idle one, and what that costs is the host's business -- it moved a latency ratio
    by 5-15 % from one run to the next here (floor and ours pay it alike, so it dilutes their
    ratio by a varying amount). On one CPU a round trip is two context switches, and what is
    left is what the two sides compute: ratios agreed within 2 % across runs. It is also the
    stricter figure (no overlap of client and server work). Everything is put back after.
    No-op where the OS has no CPU affinity (``os.sched_setaffinity``).
    """
    if not hasattr(os, "sched_setaffinity"):
        yield
        return
    allowed = os.sched_getaffinity(0)
    cpu = {max(allowed)}
    # Every thread of each process (redis-server runs background threads beside its main one).
    tids = [
        int(tid)
        for pid in pids
        for tid in (os.listdir(f"/proc/{pid}/task") if os.path.isdir(f"/proc/{pid}/task") else [])
    ]
    before = {tid: os.sched_getaffinity(tid) for tid in tids}
    os.sched_setaffinity(0, cpu)
    for tid in tids:
        os.sched_setaffinity(tid, cpu)
    try:
        yield
    finally:
        os.sched_setaffinity(0, allowed)
        for tid, mask in before.items():
            with contextlib.suppress(ProcessLookupError):
                os.sched_setaffinity(tid, mask)


@contextmanager
def _no_gc(enabled: bool, pair: int) -> Iterator[None]:
    """Collect now, then keep the collector out of the block (if ``enabled``).

    Between pairs only the youngest generation is collected (what the collector would mostly
    have done inside the slices), and everything every ``_FULL_EVERY`` pairs: a full collection
    walks every object in the process and leaves the caches cold for the next slice.
    """
    if not enabled:
        yield
        return
    was = gc.isenabled()
    gc.collect(2 if pair % _FULL_EVERY == 0 else 0)
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


_FULL_EVERY = 25


def paired(
    a: Callable[[], float],
    b: Callable[[], float],
    *,
    slices: int = 15,
    warmup: int = 1,
    quiet_gc: bool = True,
) -> Pair:
    """Run ``a`` and ``b`` in ``slices`` interleaved pairs; the median of the ratios B/A.

    The first ``warmup`` pairs run uncounted; with ``quiet_gc`` the garbage collector runs
    between pairs only, never inside a slice.
    """
    xs: list[float] = []
    ys: list[float] = []
    for i in range(warmup + slices):
        with _no_gc(quiet_gc, i):
            if i % 2 == 0:
                x, y = a(), b()
            else:
                y = b()
                x = a()
        if i >= warmup:
            xs.append(x)
            ys.append(y)
    return _summary(xs, ys)


async def apaired(
    a: Callable[[], Awaitable[float]],
    b: Callable[[], Awaitable[float]],
    *,
    slices: int = 15,
    warmup: int = 1,
    quiet_gc: bool = True,
) -> Pair:
    """:func:`paired` for async slice functions."""
    one = await apaired_together({"": (a, b)}, slices=slices, warmup=warmup, quiet_gc=quiet_gc)
    return one[""]


async def apaired_together(
    pairings: dict[str, tuple[Callable[[], Awaitable[float]], Callable[[], Awaitable[float]]]],
    *,
    slices: int = 15,
    warmup: int = 1,
    quiet_gc: bool = True,
) -> dict[str, Pair]:
    """:func:`apaired` for several A/B pairings at once, their pairs taken in turn.

    Pair ``i`` of every pairing runs before pair ``i + 1`` of any: each figure is measured over
    the whole time all of them take, not over its own stretch of it, so a slow spell of the
    machine is shared by all the figures instead of falling on one of them.
    """
    xs: dict[str, list[float]] = {name: [] for name in pairings}
    ys: dict[str, list[float]] = {name: [] for name in pairings}
    for i in range(warmup + slices):
        for name, (a, b) in pairings.items():
            with _no_gc(quiet_gc, i):
                if i % 2 == 0:
                    x = await a()
                    y = await b()
                else:
                    y = await b()
                    x = await a()
            if i >= warmup:
                xs[name].append(x)
                ys[name].append(y)
    return {name: _summary(xs[name], ys[name]) for name in pairings}


def calibrate(loop: Callable[[int], float], seconds: float, *, start: int = 50) -> int:
    """How many operations of ``loop`` fill a slice of about ``seconds`` of CPU time.

    ``loop(n)`` runs ``n`` operations and returns µs per operation (as :func:`cpu_per_call`).
    Slices of equal length expose A and B alike to what else the machine does (a preemption,
    another process's cache traffic): a short slice beside a long one would be hit less often.
    """
    n = start
    for _ in range(3):
        per_op = sorted(loop(n) for _ in range(3))[1]
        n = max(1, round(seconds * 1e6 / per_op)) if per_op > 0 else n * 10
    return n


async def acalibrate(
    loop: Callable[[int], Awaitable[float]], seconds: float, *, start: int = 50
) -> int:
    """:func:`calibrate` for an async ``loop``."""
    n = start
    for _ in range(3):
        per_op = sorted([await loop(n) for _ in range(3)])[1]
        n = max(1, round(seconds * 1e6 / per_op)) if per_op > 0 else n * 10
    return n


def paired_loops(
    a: Callable[[int], float],
    b: Callable[[int], float],
    *,
    seconds: float = 0.002,
    slices: int = 201,
    warmup: int = 5,
) -> Pair:
    """:func:`paired` for loops of operations (``a(n)``: µs per operation), slices of equal length.

    Each side's operation count is calibrated so that its slice takes about ``seconds`` of CPU.
    """
    na, nb = calibrate(a, seconds), calibrate(b, seconds)
    return paired(lambda: a(na), lambda: b(nb), slices=slices, warmup=warmup)


async def apaired_loops(
    a: Callable[[int], Awaitable[float]],
    b: Callable[[int], Awaitable[float]],
    *,
    seconds: float = 0.002,
    slices: int = 201,
    warmup: int = 5,
) -> Pair:
    """:func:`paired_loops` for async loops."""
    na, nb = await acalibrate(a, seconds), await acalibrate(b, seconds)
    return await apaired(lambda: a(na), lambda: b(nb), slices=slices, warmup=warmup)


def cpu_per_call(loop: Callable[[int], object], n: int) -> float:
    """CPU µs of this thread per operation, for ``loop(n)`` doing ``n`` operations."""
    start = cpu_clock()
    loop(n)
    return (cpu_clock() - start) / n * 1e6


def emit(name: str, figures: dict[str, Any]) -> None:
    """Print the ``BENCH-JSON:`` line for ``name`` (see the module docstring)."""
    sys.stdout.write(MARK + json.dumps({"name": name, **figures}, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def collect(output: str) -> list[dict[str, Any]]:
    """Every ``BENCH-JSON:`` object printed in ``output``."""
    found = []
    for line in output.splitlines():
        if line.startswith(MARK):
            found.append(json.loads(line[len(MARK) :]))
    return found


def ratios(figures: Any, prefix: str = "") -> dict[str, float]:
    """Every ratio in a figure set, by its path (``a.b.c``): each :meth:`Pair.as_dict`'s
    ``ratio``, and any other number whose key says it is one (``…ratio…``, ``…_over_…``)."""
    found: dict[str, float] = {}
    if isinstance(figures, dict):
        for key, value in figures.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, dict) and isinstance(value.get("ratio"), (int, float)):
                found[path] = float(value["ratio"])
            elif isinstance(value, (dict, list)):
                found.update(ratios(value, path))
            elif (
                isinstance(value, (int, float))
                and not isinstance(value, bool)
                and ("ratio" in key or "_over_" in key)
            ):
                found[path] = float(value)
    elif isinstance(figures, list):
        for i, value in enumerate(figures):
            found.update(ratios(value, f"{prefix}[{i}]"))
    return found
