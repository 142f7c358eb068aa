"""What tracing costs the target, beside sampling: the slowdown of one fixed amount of work.

Usage: python scripts/bench_trace.py [--rounds N] [--iterations N] [--sampled-iterations N]
(root, bpftrace)

scripts/bench_workloads/fixed.py times its own work (CPU time), alone, under ``memspy record`` (100
Hz, the default, and 1000 Hz) and under ``memspy trace``, on Debian's 3.11 (CPython's own
probes) and on each pyenv 3.12+ in the venv with pyusdt the tests build
(``~/.cache/memspy-tests/pyusdt-0.1.1/``; run the USDT tests once first). Two shapes of
the same work: "loop" (one call per 10,000 iterations) and "calls" (one per 10): a
tracer pays per event, a sampler per sample. A sampler's few per cent need longer work to
be seen through the noise of a shared machine, a tracer's hundredfold shorter work to end:
each is timed on its own amount, against the work alone on that amount. Prints the best of
N runs of each as a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXED = ROOT / "scripts" / "bench_workloads" / "fixed.py"
MEMSPY = [sys.executable, "-m", "memspy"]
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
PYTHONS = {
    "3.11 (CPython's probes)": Path("/usr/bin/python3.11"),
    "3.12 (pyusdt)": CACHE / "memspy-tests" / "pyusdt-0.1.1" / "3.12" / "bin" / "python",
    "3.13 (pyusdt)": CACHE / "memspy-tests" / "pyusdt-0.1.1" / "3.13" / "bin" / "python",
}
SHAPES = {"loop": 10000, "calls": 10}


def _elapsed(output: str) -> float:
    """The target's CPU time for its work: on a shared machine its wall time is mostly
    waits for a CPU. (A trace's kernel side, the probes' traps, is the target's CPU time
    too; bpftrace's own work is not.)"""
    line = next(line for line in output.splitlines() if line.startswith("cpu "))
    return float(line.split()[1])


def alone(python: Path, work: list[str]) -> float:
    done = subprocess.run([str(python), *work], input="go\n", capture_output=True, text=True)
    return _elapsed(done.stdout)


def recorded(python: Path, work: list[str], rate: int, scratch: Path) -> float:
    """Attached by PID once the target is ready, so its work starts sampled."""
    target = subprocess.Popen(
        [str(python), *work], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert target.stdout.readline() == "ready\n"
    out = str(scratch / "r.collapsed")
    recorder = subprocess.Popen(
        [*MEMSPY, "record", "-r", str(rate), "-p", str(target.pid), "-o", out],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    for line in recorder.stderr:  # "sampling ..." once attached
        if "sampling" in line:
            break
    target.stdin.write("go\n")
    target.stdin.close()
    elapsed = _elapsed(target.stdout.read())
    target.wait()
    recorder.wait()
    return elapsed


def traced(python: Path, work: list[str], scratch: Path) -> float:
    """A command trace attaches before the command runs (pyusdt's gate, bpftrace -c)."""
    out = str(scratch / "t.collapsed")
    done = subprocess.run(
        [*MEMSPY, "trace", "-o", out, "--", str(python), *work],
        input="go\n", capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"trace failed: {done.stderr.strip().splitlines()[-1]}")
    return _elapsed(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=3_000_000, help="traced")
    parser.add_argument("--sampled-iterations", type=int, default=50_000_000)
    args = parser.parse_args()
    scratch = Path(f"/tmp/memspy-bench-trace-{os.getpid()}")
    scratch.mkdir(exist_ok=True)
    print(
        f"{time.strftime('%Y-%m-%d')}, best of {args.rounds}: {args.sampled_iterations:,} "
        f"iterations recorded, {args.iterations:,} traced"
    )
    print()
    print("| python | work | alone s | record 100 Hz | record 1000 Hz | alone s | trace |")
    print("|---|---|---|---|---|---|---|")
    for label, python in PYTHONS.items():
        if not python.exists():
            print(f"| {label} | absent: {python} | | | | |")
            continue
        for shape, chunk in SHAPES.items():
            sampled = [str(FIXED), str(args.sampled_iterations), str(chunk)]
            work = [str(FIXED), str(args.iterations), str(chunk)]
            runs: dict[str, list[float]] = {}
            for _ in range(args.rounds):  # rotated, so drifts in the machine's load spread
                runs.setdefault("sampled alone", []).append(alone(python, sampled))
                runs.setdefault("r100", []).append(recorded(python, sampled, 100, scratch))
                runs.setdefault("r1000", []).append(recorded(python, sampled, 1000, scratch))
                runs.setdefault("alone", []).append(alone(python, work))
                runs.setdefault("trace", []).append(traced(python, work, scratch))
            best = {name: min(times) for name, times in runs.items()}
            base = {"r100": "sampled alone", "r1000": "sampled alone", "trace": "alone"}
            cells = [
                f"{best[n]:.3f} s (x{best[n] / best[base[n]]:.2f})"
                if n in base
                else f"{best[n]:.3f}"
                for n in best
            ]
            print(f"| {label} | {shape} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
