"""How often a stack reads torn where no check can tell: samples taken as fast as memspy
takes them, back to back, of a main thread that spends its time in generators resumed
from C (``tests/targets/gen_spin.py``, their frames leaving the chain at every yield).

Usage: python scripts/bench_torn.py [--python 3.13 ...] [--samples N] [--markdown PATH]

Every stack of that thread ends at ``<module>``; one that does not, and holds no
``<unknown>`` marker, lost its callers without being counted (the kind of read the
exactness tests must never see). Per interpreter: those, then how the stacks were read
(exact, repaired, partly unknown).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional, Sequence

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests"), str(HERE.parent / "tests" / "integration")]

from bench_common import report  # noqa: E402
from interpreters import Interpreter  # noqa: E402
from robust import end, start  # noqa: E402

from memspy.interpreter.process import PythonProcess  # noqa: E402


def run(python: Interpreter, samples: int) -> List[str]:
    target = start("gen_spin.py", python=str(python.path))
    lost, quality = 0, [0, 0, 0]
    try:
        process = PythonProcess(target.pid)
        for _ in range(samples):
            threads = process.sample().threads
            quality = [a + b for a, b in zip(quality, process.quality)]
            for thread in threads:
                names = [frame.name for frame in thread.frames]
                lost += "<unknown>" not in names and (not names or names[-1] != "<module>")
    finally:
        end(target)
    exact, repaired, unknown = quality
    return [
        f"{python.id}: {lost} of {samples} stacks lost their callers uncounted; "
        f"read exact {exact}, repaired {repaired}, partly unknown {unknown}"
    ]


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", action="append", metavar="VERSION")
    parser.add_argument("--samples", type=int, default=50_000)
    parser.add_argument("--markdown", metavar="PATH")
    args = parser.parse_args(argv)
    wanted = args.python or ["3.11", "3.12", "3.13"]
    return report(
        "bench_torn", "stacks torn uncounted, gen_spin.py sampled back to back", wanted,
        lambda python: run(python, args.samples), args.markdown,
    )


if __name__ == "__main__":
    sys.exit(main())
