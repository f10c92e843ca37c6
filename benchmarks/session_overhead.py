"""Per-call overhead of ``Session.balance()`` against a bare ``httpx.AsyncClient``.

Both clients call the same emulator endpoint (``/sys/balance.php``, fmt=3), served by a separate
process on loopback so that this process's CPU time is the client's alone. Printed per backend
(asyncio, trio):

* sequential: client CPU µs per call, and the ratio Session / bare httpx (goal ≤ 1.05);
* 50 concurrent tasks: calls per second, and the ratio Session / bare httpx (goal ≥ 1.0);
* import time of ``smsc_async`` over importing its five dependencies (goal ≤ 20 ms).

The session runs with its full limiter, but with the balance rule raised out of the way (the real
rule allows 10 a minute), so the figures are the pipeline's cost, not the rule's waits.

    python benchmarks/session_overhead.py [--calls 2000]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import attrs
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from smsc_async import RateLimits, Rule, Session  # noqa: E402

FORM = {"login": "demo", "psw": "demo", "cur": "1", "fmt": "3", "charset": "utf-8"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_emulator() -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "smsc_async.testing", "--port", str(port), "--lenient"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.post(url + "/sys/balance.php", data=FORM, timeout=1).raise_for_status()
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("emulator did not start")


def _limits() -> RateLimits:
    return attrs.evolve(RateLimits(), balance=Rule(limit=10**9, window=60.0))


async def _sequential(call: Callable[[], Awaitable[object]], n: int) -> float:
    for _ in range(50):  # warm up the pool and caches
        await call()
    start = time.process_time()
    for _ in range(n):
        await call()
    return (time.process_time() - start) / n * 1e6


async def _concurrent(call: Callable[[], Awaitable[object]], n: int, tasks: int) -> float:
    per_task = n // tasks

    async def worker() -> None:
        for _ in range(per_task):
            await call()

    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(tasks):
            tg.start_soon(worker)
    return per_task * tasks / (time.perf_counter() - start)


async def _measure(url: str, n: int) -> dict[str, float]:
    # Two bare baselines: httpx as it comes (a pool of 100, so 50 tasks open 50 connections,
    # which the real gateway would answer with error 9), and httpx held to the 14 connections
    # the gateway allows one login -- the like-for-like comparison for the session.
    capped = httpx.Limits(max_connections=14, max_keepalive_connections=14)
    async with httpx.AsyncClient() as bare, httpx.AsyncClient(limits=capped) as bare14:

        async def bare_call() -> object:
            response = await bare.post(url + "/sys/balance.php", data=FORM)
            return response.json()

        async def bare14_call() -> object:
            response = await bare14.post(url + "/sys/balance.php", data=FORM)
            return response.json()

        async with Session("demo", "demo", base_url=url, limits=_limits()) as smsc:
            # Interleave them so drift on a shared machine hits all alike; best of eight.
            runs: dict[str, list[float]] = {
                "seq_bare": [], "seq_ours": [], "con_bare": [], "con_bare14": [], "con_ours": []
            }  # fmt: skip
            for _ in range(8):
                runs["seq_bare"].append(await _sequential(bare_call, n))
                runs["seq_ours"].append(await _sequential(smsc.balance, n))
                runs["con_bare"].append(await _concurrent(bare_call, n, 50))
                runs["con_bare14"].append(await _concurrent(bare14_call, n, 50))
                runs["con_ours"].append(await _concurrent(smsc.balance, n, 50))
    return {
        "seq_bare_us": min(runs["seq_bare"]),
        "seq_ours_us": min(runs["seq_ours"]),
        "con_bare_rps": max(runs["con_bare"]),
        "con_bare14_rps": max(runs["con_bare14"]),
        "con_ours_rps": max(runs["con_ours"]),
    }


def _import_ms(statements: tuple[str, str], runs: int = 15) -> tuple[float, float]:
    """Best wall time of each statement in a fresh interpreter, the two runs interleaved."""
    # Installed packages import from bytecode (pip compiles it, as it did for the dependencies);
    # with PYTHONDONTWRITEBYTECODE set, a source checkout would be recompiled on every run.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "smsc_async")], check=True)
    best = [float("inf"), float("inf")]
    for _ in range(runs):
        for i, statement in enumerate(statements):
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-c", statement],
                check=True,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            best[i] = min(best[i], time.perf_counter() - start)
    return best[0] * 1000, best[1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=600, help="calls per round (8 rounds)")
    args = parser.parse_args()
    proc, url = _start_emulator()
    try:
        for backend in ("asyncio", "trio"):
            r = anyio.run(_measure, url, args.calls, backend=backend)
            print(
                f"[{backend}] sequential CPU per call: bare httpx {r['seq_bare_us']:.0f} µs, "
                f"Session {r['seq_ours_us']:.0f} µs, "
                f"ratio {r['seq_ours_us'] / r['seq_bare_us']:.3f}"
                " (goal ≤ 1.05)"
            )
            print(
                f"[{backend}] 50 concurrent tasks: Session {r['con_ours_rps']:.0f} calls/s; "
                f"bare httpx {r['con_bare_rps']:.0f} calls/s (ratio "
                f"{r['con_ours_rps'] / r['con_bare_rps']:.3f}), bare httpx on 14 connections "
                f"{r['con_bare14_rps']:.0f} calls/s (ratio "
                f"{r['con_ours_rps'] / r['con_bare14_rps']:.3f}) (goal ≥ 1.0)"
            )
    finally:
        proc.terminate()
        proc.wait()
    deps, ours = _import_ms(
        (
            "import httpx, anyio, attrs, cattrs, tenacity",
            "import httpx, anyio, attrs, cattrs, tenacity; import smsc_async",
        )
    )
    print(
        f"import: five dependencies {deps:.1f} ms, + smsc_async {ours:.1f} ms, "
        f"added {ours - deps:.1f} ms (goal ≤ 20 ms)"
    )


if __name__ == "__main__":
    main()
