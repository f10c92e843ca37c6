"""Paired, interleaved A/B measurement, and the one line every benchmark reports through.

On a shared machine the load changes from second to second, so two figures taken one after the
other differ by the drift between them, not only by what they measure. Here A and B run in short
alternating slices (A B B A A B ...: each pair in turn leads, so a steady drift favours neither),
each pair of neighbouring slices gives one ratio B/A, and the result is the **median of those
ratios** with their spread (the interquartile range, and min-max). A load spike spoils one pair,
not the figure.

    from _pairs import paired, emit

    pair = paired(lambda: cost_of(ours), lambda: cost_of(baseline), slices=15)
    print(pair.line("µs per call", "ours", "bare"))
    emit("session_overhead", {"seq_ratio": pair.as_dict()})

Each slice function returns one figure (seconds per operation, µs per number …: lower is
better, or any figure whose ratio is meant). ``apaired`` does the same with async slices.

The JSON convention (``benchmarks/run.py`` collects it): a benchmark prints at most one line per
figure set of the form ``BENCH-JSON: {"name": ..., ...}``, one JSON object on one line, anywhere in
its stdout; everything else it prints is for people. ``emit`` writes such a line.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

MARK = "BENCH-JSON: "


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

    @property
    def spread(self) -> float:
        """Half the interquartile range of the ratios, relative to their median."""
        return (self.q3 - self.q1) / 2 / self.ratio if self.ratio else 0.0

    def line(self, unit: str, a_name: str, b_name: str, digits: int = 2) -> str:
        """One human line: both medians and the ratio with its spread."""
        return (
            f"{a_name} {self.a:.{digits}f} {unit}, {b_name} {self.b:.{digits}f} {unit}: "
            f"{b_name}/{a_name} = {self.ratio:.3f} (IQR {self.q1:.3f}-{self.q3:.3f}, "
            f"range {self.low:.3f}-{self.high:.3f}, {self.slices} pairs)"
        )

    def as_dict(self) -> dict[str, Any]:
        """The figures, rounded for a JSON report."""
        return {k: round(v, 6) if isinstance(v, float) else v for k, v in asdict(self).items()}


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
    )


def paired(a: Callable[[], float], b: Callable[[], float], *, slices: int = 15) -> Pair:
    """Run ``a`` and ``b`` in ``slices`` interleaved pairs; the median of the ratios B/A."""
    xs: list[float] = []
    ys: list[float] = []
    for i in range(slices):
        if i % 2 == 0:
            xs.append(a())
            ys.append(b())
        else:
            ys.append(b())
            xs.append(a())
    return _summary(xs, ys)


async def apaired(
    a: Callable[[], Awaitable[float]], b: Callable[[], Awaitable[float]], *, slices: int = 15
) -> Pair:
    """:func:`paired` for async slice functions."""
    xs: list[float] = []
    ys: list[float] = []
    for i in range(slices):
        if i % 2 == 0:
            xs.append(await a())
            ys.append(await b())
        else:
            ys.append(await b())
            xs.append(await a())
    return _summary(xs, ys)


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
