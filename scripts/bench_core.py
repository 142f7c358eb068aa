"""How long `memspy dump --core` takes on a large core: a target holding ~N MB of data
(a bytearray, every page written, so the core keeps it all) is written to a core by gcore,
then dumped several times; the best and the median wall time, with the live dump of the
same target beside them.

Usage: python scripts/bench_core.py [--python PATH] [--mb 500] [--runs 3]

memspy reads a core through a memory map and only the pages the walk touches, so the time
should not grow with the size of the core; this is the check. The core is written to a
scratch directory and deleted afterwards.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Sequence

ROOT = Path(__file__).resolve().parents[1]

HOLDER = """\
import sys, time
data = bytearray(b"x") * ({mb} << 20)
def hold():
    print("ready", flush=True)
    time.sleep(3600)
hold()
"""


def _wall(command: Sequence[str]) -> float:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
    return took


def _times(command: Sequence[str], runs: int) -> List[float]:
    return [_wall(command) for _ in range(runs)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable, help="the target's interpreter")
    parser.add_argument("--mb", type=int, default=500, help="megabytes the target holds")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("gcore") is None:
        raise SystemExit("gcore is not installed (it comes with gdb)")
    memspy = [sys.executable, "-m", "memspy", "dump"]
    with tempfile.TemporaryDirectory(prefix="memspy-bench-core-") as scratch:
        target = subprocess.Popen(
            [args.python, "-c", HOLDER.format(mb=args.mb)], stdout=subprocess.PIPE
        )
        try:
            assert target.stdout is not None and target.stdout.readline() == b"ready\n"
            live = _times([*memspy, "-p", str(target.pid)], args.runs)
            start = time.perf_counter()
            subprocess.run(
                ["gcore", "-o", f"{scratch}/core", str(target.pid)],
                capture_output=True, timeout=600, check=True,
            )
            written = time.perf_counter() - start
        finally:
            target.kill()
            target.wait()
        core = Path(f"{scratch}/core.{target.pid}")
        size = core.stat().st_size
        cored = _times([*memspy, "--core", str(core)], args.runs)
    print(f"core: {size / 1e6:.0f} MB, written by gcore in {written:.2f} s")
    for name, taken in (("dump --core", cored), ("dump -p (live)", live)):
        print(
            f"{name}: best {min(taken):.3f} s, median {statistics.median(taken):.3f} s "
            f"of {len(taken)}"
        )


if __name__ == "__main__":
    main()
