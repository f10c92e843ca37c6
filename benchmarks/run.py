"""Run every benchmark, collect their figures into one JSON file, and draw the rule picture.

    python benchmarks/run.py [--out benchmarks/results] [--quick] [--only NAME ...] [--twice]
    nox -s benchmarks [-- --twice]

Every ``benchmarks/*.py`` script but this one and the ``_``-prefixed helpers runs in its own
process, one after the other (so none measures while another loads the machine). A script's
figures are the ``BENCH-JSON: {...}`` lines it prints (the convention of benchmarks/_pairs.py);
a script that prints none is recorded with its exit status and the tail of its output, so a
benchmark still being rewritten does not stop the run. The results go to ``<out>/results.json``,
with the machine's load average before and after the run.

``--twice`` checks that the figures hold still: it runs the whole set twice, one run after the
other, prints every ratio (each paired figure's median ratio, and any figure named as a ratio)
from both runs with their relative difference, flags each that moved more than ``--tolerance``
(5 %), and writes both runs and the comparison into the JSON (``runs``, ``agreement``).

The picture, ``<out>/admissions.svg``, is drawn here: a saturated look-up rule (100 requests in
any 1-second window: the gateway's 100 a minute, windows scaled by 1/60) on the production clock,
with 30 tasks asking for as many requests as they can get, through three limiters -- ours (the
session's sliding log), a token bucket of burst 100 refilling 100 per second, and
``aiolimiter.AsyncLimiter(100, 1)`` (a benchmark-only install, ``pip install aiolimiter``; skipped
with a note when absent). For each it plots the admissions in the trailing window against the
rule's line: a bucket lets up to twice the rule through in its first window, a sliding log never
more than the rule.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _pairs import collect, ratios

from smsc_async import RateLimits, Rule
from smsc_async._limiter import Limiter

LIMIT = 100
WINDOW = 1.0
TASKS = 30
RUN_FOR = 3.5
INFO = "/sys/info.php"
HERE = Path(__file__).resolve().parent

#: Extra arguments that keep ``--quick`` runs short (figures only indicative).
QUICK = {
    "bulk_lookup.py": ["--numbers", "200000", "--slices", "5", "--ceiling-numbers", "20000"],
    "limiter.py": ["--slices", "41", "--processes", "3", "--seconds", "1"],
    "session_overhead.py": ["--slices", "41"],
    "sqlite_limiter.py": ["--slices", "61", "--rounds", "11"],
}
#: How far a ratio may move between the two runs of ``--twice`` before it is flagged.
TOLERANCE = 0.05


def scripts() -> list[Path]:
    return sorted(p for p in HERE.glob("*.py") if not p.name.startswith("_") and p.name != "run.py")


def run_script(path: Path, extra: list[str]) -> dict[str, Any]:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(path), *extra], capture_output=True, text=True, cwd=HERE.parent
    )
    figures = collect(proc.stdout)
    entry: dict[str, Any] = {
        "returncode": proc.returncode,
        "seconds": round(time.perf_counter() - started, 1),
        "figures": figures,
    }
    if not figures or proc.returncode != 0:
        entry["output_tail"] = (proc.stdout + proc.stderr).splitlines()[-25:]
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        sys.stdout.write(proc.stderr)
    return entry


# -- the picture --------------------------------------------------------------------------------


class TokenBucket:
    """Burst ``limit``, refilled at ``limit / window`` per second: the common design."""

    def __init__(self, limit: int, window: float) -> None:
        self.capacity = float(limit)
        self.tokens = float(limit)
        self.rate = limit / window
        self.stamp = anyio.current_time()

    async def acquire(self) -> float:
        while True:
            now = anyio.current_time()
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1:
                self.tokens -= 1
                return now
            await anyio.sleep((1 - self.tokens) / self.rate)


async def saturate(acquire: Callable[[], Awaitable[float]]) -> list[float]:
    """Admission times (from the start) of ``TASKS`` tasks asking without pause.

    ``acquire`` returns the time it admitted at, read before anything else can run: a time read
    after a later await would shift late admissions and make the windows look fuller.
    """
    times: list[float] = []
    start = anyio.current_time()
    with anyio.move_on_after(RUN_FOR):
        async with anyio.create_task_group() as tg:

            async def ask() -> None:
                while True:
                    times.append(await acquire() - start)

            for _ in range(TASKS):
                tg.start_soon(ask)
    return times


async def ours() -> list[float]:
    limits = RateLimits().scaled(WINDOW / 60)
    assert limits.operator_any == Rule(limit=LIMIT, window=WINDOW)
    limiter = Limiter(limits)
    numbers = iter(range(79_000_000_000, 80_000_000_000))

    async def acquire() -> float:
        # A new number each time: only the look-up rule binds, not the one for a same number.
        params = {"get_operator": "1", "phone": str(next(numbers))}
        async with limiter.slot(INFO, params):
            return anyio.current_time()  # answered at once: the request counts from its exit

    return await saturate(acquire)


async def bucket() -> list[float]:
    return await saturate(TokenBucket(LIMIT, WINDOW).acquire)


async def aiolimiter_times() -> list[float] | None:
    try:
        from aiolimiter import AsyncLimiter
    except ImportError:
        return None
    limiter = AsyncLimiter(LIMIT, WINDOW)

    async def acquire() -> float:
        await limiter.acquire()
        return anyio.current_time()  # acquire() returns in the step that granted it

    return await saturate(acquire)


def in_window(times: list[float], step: float = 0.01) -> tuple[list[tuple[float, int]], int]:
    """Admissions in the trailing window, sampled every ``step``; and the most in any window."""
    ordered = sorted(times)
    most, j = 0, 0
    for i, t in enumerate(ordered):
        while ordered[j] <= t - WINDOW:
            j += 1
        most = max(most, i - j + 1)
    series, lo, hi = [], 0, 0
    t = 0.0
    while t <= RUN_FOR:
        while hi < len(ordered) and ordered[hi] <= t:
            hi += 1
        while lo < hi and ordered[lo] <= t - WINDOW:
            lo += 1
        series.append((round(t, 3), hi - lo))
        t += step
    return series, most


def svg(curves: dict[str, list[tuple[float, int]]], notes: list[str]) -> str:
    width, height, left, right, top, bottom = 720, 360, 60, 170, 30, 50
    top_y = 2.2 * LIMIT
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(t: float) -> float:
        return left + t / RUN_FOR * plot_w

    def y(v: float) -> float:
        return top + plot_h - v / top_y * plot_h

    colours = {"ours (sliding log)": "#1b7837", "token bucket": "#b2182b", "aiolimiter": "#2166ac"}
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="18" font-size="14">Admissions in the trailing {WINDOW:g} s window '
        f"({TASKS} tasks asking without pause)</text>",
    ]
    for v in range(0, int(top_y) + 1, 50):
        out.append(
            f'<line x1="{left}" y1="{y(v):.1f}" x2="{left + plot_w}" y2="{y(v):.1f}" '
            'stroke="#ddd"/>'
        )
        out.append(f'<text x="{left - 8}" y="{y(v) + 4:.1f}" text-anchor="end">{v}</text>')
    for s in range(int(RUN_FOR) + 1):
        out.append(
            f'<text x="{x(s):.1f}" y="{top + plot_h + 18}" text-anchor="middle">{s} s</text>'
        )
    out.append(
        f'<text x="{left + plot_w + 8}" y="{y(LIMIT) + 4:.1f}">'
        f"rule: {LIMIT} per {WINDOW:g} s</text>"
    )
    for n, (name, series) in enumerate(curves.items()):
        colour = colours.get(name, "#555")
        points = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in series)
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
        out.append(
            f'<text x="{left + plot_w + 8}" y="{top + 20 + 18 * n}" fill="{colour}">{name}</text>'
        )
    # The rule's line last, over the curves: ours runs along it.
    out.append(
        f'<line x1="{left}" y1="{y(LIMIT):.1f}" x2="{left + plot_w}" y2="{y(LIMIT):.1f}" '
        'stroke="black" stroke-dasharray="6,4" stroke-width="1.5"/>'
    )
    for n, note in enumerate(notes):
        out.append(f'<text x="{left}" y="{height - 12 + 14 * n - 14 * (len(notes) - 1)}" '
                   f'fill="#555">{note}</text>')  # fmt: skip
    out.append("</svg>")
    return "\n".join(out) + "\n"


def picture(out: Path) -> dict[str, Any]:
    runs: dict[str, list[float] | None] = {
        "ours (sliding log)": anyio.run(ours),
        "token bucket": anyio.run(bucket),
        "aiolimiter": anyio.run(aiolimiter_times),
    }
    curves, figures, notes = {}, {}, []
    for name, times in runs.items():
        if times is None:
            notes.append(f"{name}: not installed (pip install aiolimiter), not drawn")
            figures[name] = None
            continue
        series, most = in_window(times)
        curves[name] = series
        figures[name] = {"admitted": len(times), "most_in_any_window": most, "rule": LIMIT}
        print(
            f"admissions: {name:<20} {len(times):4d} in {RUN_FOR:g} s, most in any "
            f"{WINDOW:g} s window {most} (rule {LIMIT}: x{most / LIMIT:.2f})"
        )
    (out / "admissions.svg").write_text(svg(curves, notes))
    return figures


def run_all(args: argparse.Namespace) -> dict[str, Any]:
    """Every selected benchmark once, then the picture: one run's report."""
    report: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_before": _load(),
        "benchmarks": {},
    }
    for path in scripts():
        if args.only and path.stem not in args.only and path.name not in args.only:
            continue
        print(f"== {path.name}", flush=True)
        extra = QUICK.get(path.name, []) if args.quick else []
        report["benchmarks"][path.stem] = run_script(path, extra)
    print("== admissions picture", flush=True)
    report["admissions"] = picture(args.out)
    report["load_after"] = _load()
    return report


def run_ratios(report: dict[str, Any]) -> dict[str, float]:
    """Every ratio of one run, named ``<benchmark>.<path in its figures>``."""
    found: dict[str, float] = {}
    for name, entry in report["benchmarks"].items():
        for figures in entry.get("figures", []):
            body = {k: v for k, v in figures.items() if k != "name"}
            label = figures.get("name", name)
            found.update(ratios(body, name if label == name else f"{name}.{label}"))
    for name, figures in (report.get("admissions") or {}).items():
        if figures:
            found[f"admissions.{name}.most_over_rule"] = figures["most_in_any_window"] / LIMIT
    return found


def agreement(first: dict[str, Any], second: dict[str, Any], tolerance: float) -> dict[str, Any]:
    """Each ratio of both runs, their relative difference, and which moved more than allowed."""
    one, two = run_ratios(first), run_ratios(second)
    rows: dict[str, Any] = {}
    for key in sorted(one.keys() & two.keys()):
        a, b = one[key], two[key]
        moved = abs(b / a - 1) if a else (0.0 if b == a else float("inf"))
        rows[key] = {
            "first": a,
            "second": b,
            "difference": round(moved, 4),
            "ok": moved <= tolerance,
        }
    width = max((len(k) for k in rows), default=10)
    print(f"== two runs, every ratio (flagged: moved more than {tolerance:.0%})")
    for key, row in rows.items():
        flag = "" if row["ok"] else "   <-- moved"
        print(
            f"{key:<{width}}  {row['first']:10.4f}  {row['second']:10.4f}  "
            f"{row['difference']:7.2%}{flag}"
        )
    flagged = [k for k, row in rows.items() if not row["ok"]]
    only = sorted(one.keys() ^ two.keys())
    print(
        f"{len(rows) - len(flagged)} of {len(rows)} ratios agree within {tolerance:.0%}"
        + (f"; moved: {', '.join(flagged)}" if flagged else "")
        + (f"; in one run only: {', '.join(only)}" if only else "")
    )
    return {"tolerance": tolerance, "ratios": rows, "flagged": flagged, "in_one_run_only": only}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--quick", action="store_true", help="shorter runs, rougher figures")
    parser.add_argument("--only", nargs="*", help="script names to run (default: all)")
    parser.add_argument(
        "--twice", action="store_true", help="run everything twice and compare every ratio"
    )
    parser.add_argument(
        "--tolerance", type=float, default=TOLERANCE, help="--twice: flag ratios moving more"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {_cpus()} CPUs",
    }
    runs = [run_all(args)]
    if args.twice:
        print("== second run", flush=True)
        runs.append(run_all(args))
    # The last run's figures at the top, as a single run writes them.
    report.update(
        benchmarks=runs[-1]["benchmarks"],
        admissions=runs[-1]["admissions"],
        load=[[run["load_before"], run["load_after"]] for run in runs],
    )
    if args.twice:
        report["runs"] = runs
        report["agreement"] = agreement(runs[0], runs[1], args.tolerance)
    (args.out / "results.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {args.out / 'results.json'} and {args.out / 'admissions.svg'}")


def _load() -> list[float]:
    """The load averages over 1, 5 and 15 minutes (how busy the machine was)."""
    return [round(x, 2) for x in os.getloadavg()]


def _cpus() -> int:
    return os.cpu_count() or 0


if __name__ == "__main__":
    main()
