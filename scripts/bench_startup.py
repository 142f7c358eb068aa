"""How soon memspy has a first sample, next to py-spy: the wall time of a whole ``dump``
(start, attach, one sample, print), and of a ``record`` that stops 50 ms after its first
sample, on an idle machine and with one CPU kept busy by another process.

Usage: python scripts/bench_startup.py [--python 3.12] [--runs 15] [--markdown PATH]

A short-lived target can exit before a slow profiler attaches: this is the figure that
decides it. Each command runs ``--runs`` times, alternating memspy and py-spy, after one
warm-up each (so both read their files from the page cache, and memspy its ELF cache:
the state of a second run on a machine); medians and the median of the pairwise ratios.
memspy runs with bytecode caching on (``PYTHONDONTWRITEBYTECODE`` unset, the cache in a
scratch directory), as an installed package has it. py-spy's record cannot stop sooner
than a second, so only memspy's is timed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, List, Sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests")]

from interpreters import all_interpreters  # noqa: E402

SLEEPER = "import time\nprint('ready', flush=True)\ntime.sleep(3600)\n"


def _wall(command: Sequence[str], env: Dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120, env=env
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed: {done.stderr.decode()[-300:]}")
    return elapsed


@contextmanager
def _busy(on: bool) -> Iterator[None]:
    """One CPU kept busy by another process, as CI's shared 2 cores often are."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if on else None
    try:
        yield
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()


def _commands(pid: int, out: str) -> Dict[str, Dict[str, List[str]]]:
    memspy = [sys.executable, "-m", "memspy"]
    return {
        "dump": {
            "memspy": [*memspy, "dump", "-p", str(pid)],
            "py-spy": ["py-spy", "dump", "--nonblocking", "-p", str(pid)],
        },
        "record -d 0.05": {
            "memspy": [*memspy, "record", "-p", str(pid), "-d", "0.05", "-r", "100", "--idle",
                       "-f", "collapsed", "-o", out],
        },
    }


def measure(python: str, runs: int) -> List[List[str]]:
    target = subprocess.Popen([python, "-c", SLEEPER], stdout=subprocess.PIPE, text=True)
    assert target.stdout is not None and target.stdout.readline() == "ready\n"
    rows = []
    try:
        with tempfile.TemporaryDirectory() as scratch:
            out = os.path.join(scratch, "out.txt")
            env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
            env["PYTHONPYCACHEPREFIX"] = os.path.join(scratch, "pycache")
            for busy in (False, True):
                with _busy(busy):
                    for what, pair in _commands(target.pid, out).items():
                        times: Dict[str, List[float]] = {name: [] for name in pair}
                        for command in pair.values():
                            _wall(command, env)  # warm-up
                        for _ in range(runs):
                            for name, command in pair.items():
                                times[name].append(_wall(command, env))
                        ours, theirs = times["memspy"], times.get("py-spy")
                        rows.append([
                            what, "one CPU busy" if busy else "idle",
                            f"{statistics.median(ours):.3f}",
                            f"{statistics.median(theirs):.3f}" if theirs else "-",
                            f"{statistics.median(a / b for a, b in zip(ours, theirs)):.2f}"
                            if theirs else "-",
                        ])
    finally:
        target.kill()
        target.wait()
    return rows


HEADER = ["command", "machine", "memspy s (median)", "py-spy s (median)", "ratio"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default="3.12", help="interpreter id of the target")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--markdown", help="also write the table as Markdown to this file")
    args = parser.parse_args()
    python = next(i for i in all_interpreters() if i.id == args.python and i.present)
    rows = measure(str(python.path), args.runs)
    widths = [max(len(r[c]) for r in [HEADER, *rows]) for c in range(len(HEADER))]
    for row in [HEADER, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)))
    if args.markdown:
        lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        Path(args.markdown).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
