"""A batch job: the operator of every number in a file, into a CSV, with progress on stderr.

    SMSC_LOGIN=alex SMSC_PASSWORD=… python examples/batch_job.py phones.txt operators.csv

The input has one number a line in any common formatting (lines starting with ``#`` are skipped);
the output one row per distinct number, with the operator or the reason there is none. The run
goes as fast as the gateway's look-up rule allows (100 requests a minute, 50 numbers each) and
never faster. The CSV is written beside the target and renamed into place at the end, so an
interrupted run never leaves half a file where a good one was.
"""

from __future__ import annotations

import csv
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio

import smsc_async

FIELDS = ("phone", "country", "operator", "region", "mcc", "mnc", "error")


def numbers(path: Path) -> Iterator[str]:
    """The numbers of ``path``, read a line at a time (the file may be any size)."""
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            text = line.strip()
            if text and not text.startswith("#"):
                yield text


def show(progress: smsc_async.LookupProgress) -> None:
    total = "?" if progress.total is None else str(progress.total)
    eta = "" if progress.eta is None else f", about {progress.eta:.0f} s left"
    print(
        f"{progress.done}/{total} numbers, {progress.failed} failed, {progress.rate:.1f}/s{eta}",
        file=sys.stderr,
        flush=True,
    )


async def lookup_file(smsc: smsc_async.Session, source: Path, target: Path) -> tuple[int, int]:
    """Look up every number of ``source`` into the CSV ``target``; (found, failed) counts."""
    partial = target.with_name(target.name + ".part")
    found = failed = 0
    with partial.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, FIELDS)
        writer.writeheader()
        async with smsc.lookup_operators(numbers(source), progress=show) as results:
            async for result in results:
                row: dict[str, object] = dict.fromkeys(FIELDS, "")
                row["phone"] = result.phone
                if result.info is not None:
                    found += 1
                    info = result.info
                    row.update(country=info.country, operator=info.operator, region=info.region)
                    row.update(mcc=info.mcc, mnc=info.mnc)
                else:
                    failed += 1
                    row["error"] = f"{type(result.error).__name__}: {result.error}"
                writer.writerow(row)
    partial.replace(target)
    return found, failed


async def main(source: Path, target: Path) -> None:
    async with smsc_async.Session(
        login=os.environ["SMSC_LOGIN"],
        password=os.environ["SMSC_PASSWORD"],
        base_url=os.environ.get("SMSC_BASE_URL", "https://smsc.ru"),
    ) as smsc:
        found, failed = await lookup_file(smsc, source, target)
    print(f"done: {found} found, {failed} failed -> {target}", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: batch_job.py NUMBERS.txt OUT.csv")
    source, target = Path(sys.argv[1]), Path(sys.argv[2])
    if target.exists() and os.path.samefile(source, target):  # also a hard link or symlink
        sys.exit("the output must not be the input")
    anyio.run(main, source, target)
