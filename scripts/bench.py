"""memspy next to py-spy on the same running processes: profiler CPU, keep-up, target slowdown.

Usage: python scripts/bench.py [--quick] [--python 3.12 ...] [--all] [--rounds N]
                                [--short S] [--long S] [--fixed-repeats N]
                                [--markdown PATH] [--busy]
(the default set, 2.7, 3.9, 3.12 x 2 rounds, takes about 8 minutes; ``--all --rounds 3``
covers every interpreter installed)

Both profilers run non-blocking (py-spy ``--nonblocking``), one at a time (the machine is
shared and small), each attached by PID to a workload from scripts/bench_workloads/
started with the interpreter's real path, never a pyenv shim.

What is measured, per workload, interpreter and profiler (several rounds, min/median):

- CPU per sample: the profiler process's user+sys time (``os.wait4`` rusage) divided by
  the samples in its output file. "raw" is one whole run of ``--long`` seconds, start-up
  included (memspy pays a Python interpreter's start-up, py-spy almost nothing); "marginal"
  is (CPU of the long run - CPU of the ``--short`` run) / (their difference in samples):
  the steady cost of one more sample. Both ratios to py-spy are shown. With the default
  1 s and 2 s, a marginal of this machine moves by some 30 µs from run to run (a few
  tens of ms of CPU over 1,000 samples); ``--long 6`` narrows that to about 10 µs, at
  about three times the running time.
- Keep-up: sampling ticks in the output file / (requested rate x the seconds between the
  profiler's "sampling" and "stopped" messages) for the long run. Not the ``--duration``:
  py-spy takes rate x duration samples however long that lasts (it runs late when it
  falls behind); not the process lifetime, which would charge memspy's start-up twice
  (it is in the CPU figures already). A file counts thread stacks, so the
  50-thread workload's total is divided by its 51 Python threads; both profilers run with
  ``--idle`` there (py-spy leaves idle threads out otherwise), and without it elsewhere.
- Dropped: the share of attempted samples the profiler threw away, from its own closing
  statistics (memspy's "samples dropped for read errors", py-spy's "Errors"). It matters
  on the churn workload, whose stack changes while it is read.
- Slowdown: a fixed amount of the shallow workload's work, timed by the workload itself,
  with a profiler attached at 100 Hz vs alone; min over all runs of each, in rotated
  order. Run-to-run noise on this shared machine is about +-2%, larger than the 1% target:
  read a single figure near 1% as "within noise", not as a pass or a failure.

A third row, "floor", runs scripts/bench_floor.py the same way: the timer loop, the one
batched read of what memspy reads in a steady sample, and the kernel's thread states,
nothing decoded. Its ratio to py-spy is the least memspy's could be in Python here. A
fourth, "decode", is that floor and the least decoding that makes a profile of those
bytes, inline (``bench_floor.py --decode``): what memspy costs beyond it is the cost of
memspy's own structure, not of the work.

Targets (issue 8), shown in the last column of memspy's rows: marginal CPU per sample
<= 0.25 x py-spy's on 3.11-3.13 and <= 0.5 x elsewhere (shallow, deep, threads); keep-up
>= 0.95 at 1000 Hz on shallow and deep on 3.11-3.13 and at 100 Hz on threads (every
version); slowdown <= 1%.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, FrozenSet, Iterator, List, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT / "tests")]

from bench_common import BenchError, deadline, workload  # noqa: E402
from bench_parse import (  # noqa: E402
    ProfilerCounts,
    Said,
    floor_counts,
    folded_total,
    marginal_per_sample,
    memspy_counts,
    min_median,
    pyspy_counts,
    sampling_seconds,
    transcript,
    workload_elapsed,
)
from interpreters import Interpreter, all_interpreters  # noqa: E402

# One interpreter per frame model and target: 2.7 (oldest), 3.9 (<=3.10), 3.12 (3.11+).
DEFAULT_PYTHONS = ("2.7", "3.9", "3.12")
NEW_VERSIONS = frozenset({(3, 11), (3, 12), (3, 13)})  # the tighter CPU target, and the keep-up one
SLOWDOWN_RATE = 100.0
SLOWDOWN_LIMIT = 0.01
KEEP_UP_LIMIT = 0.95
# Seconds a profiler may take beyond its duration (memspy's start-up on a busy machine)
# before the benchmark gives up on it.
GRACE = 60.0


@dataclass(frozen=True)
class Workload:
    name: str  # also the script's name in bench_workloads/
    rate: float
    idle: bool  # --idle on both profilers
    stacks_per_tick: int  # Python threads in every sample
    cpu_target: bool  # whether the CPU-per-sample target applies
    # Versions the keep-up target applies to; None: every version.
    keep_up_versions: Optional[FrozenSet[Tuple[int, int]]]

    def keep_up_target(self, version: Tuple[int, int]) -> bool:
        return self.keep_up_versions is None or version in self.keep_up_versions


WORKLOADS = (
    Workload("shallow", 1000.0, False, 1, True, NEW_VERSIONS),
    Workload("deep", 1000.0, False, 1, True, NEW_VERSIONS),
    Workload("threads", 100.0, True, 51, True, None),
    Workload("churn", 1000.0, False, 1, False, frozenset()),  # not a speed target
)


@dataclass(frozen=True)
class Profiler:
    name: str
    path: str
    started: str  # what it says once it samples
    stopped: str  # what it says once it has stopped sampling
    command: Callable[[str, int, float, int, str, bool], List[str]]
    counts: Callable[[str], ProfilerCounts]

    def argv(self, pid: int, rate: float, duration: int, out: str, idle: bool) -> List[str]:
        return self.command(self.path, pid, rate, duration, out, idle)


def _pyspy_command(
    path: str, pid: int, rate: float, duration: int, out: str, idle: bool
) -> List[str]:
    argv = [path, "record", "--nonblocking", "-p", str(pid), "-r", str(int(rate))]
    argv += ["-d", str(duration), "--format", "raw", "-o", out]
    return argv + (["--idle"] if idle else [])


def _memspy_command(
    path: str, pid: int, rate: float, duration: int, out: str, idle: bool
) -> List[str]:
    argv = [path, "record", "-p", str(pid), "-r", str(rate), "-d", str(duration)]
    argv += ["--format", "collapsed", "-o", out]
    return argv + (["--idle"] if idle else [])


def _floor_command(
    path: str, pid: int, rate: float, duration: int, out: str, idle: bool
) -> List[str]:
    argv = [sys.executable, path, "-p", str(pid), "-r", str(rate), "-d", str(duration)]
    return argv + ["-o", out] + (["--idle"] if idle else [])


def _decode_command(
    path: str, pid: int, rate: float, duration: int, out: str, idle: bool
) -> List[str]:
    return _floor_command(path, pid, rate, duration, out, idle) + ["--decode"]


def _tool(name: str, given: Optional[str]) -> str:
    """The tool's real executable: the one beside this interpreter before PATH, where a
    pyenv shim would add a bash script's CPU time to every measurement."""
    if given:
        return given
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        sys.exit(f"bench: {name} not found; pass --{name} PATH")
    if "/shims/" in found:
        print(f"bench: warning: {found} is a pyenv shim; its start-up counts as CPU")
    return found


def profilers(pyspy: Optional[str], memspy: Optional[str]) -> Tuple[Profiler, ...]:
    """py-spy, memspy, and the floor of a Python sampler (scripts/bench_floor.py) without
    and with the least decoding, which take no part in the fixed-work runs."""
    return (
        Profiler(
            "py-spy",
            _tool("py-spy", pyspy),
            "Sampling process",
            "Wrote raw flamegraph",
            _pyspy_command,
            pyspy_counts,
        ),
        Profiler(
            "memspy",
            _tool("memspy", memspy),
            "memspy: sampling process",
            "memspy: stopped",
            _memspy_command,
            memspy_counts,
        ),
        Profiler(
            "floor",
            str(HERE / "bench_floor.py"),
            "floor: sampling process",
            "floor: stopped",
            _floor_command,
            floor_counts,
        ),
        Profiler(
            "decode",
            str(HERE / "bench_floor.py"),
            "floor: sampling process",
            "floor: stopped",
            _decode_command,
            floor_counts,
        ),
    )


# --- processes -------------------------------------------------------------------------


@contextmanager
def busy_cpu(wanted: bool) -> Iterator[None]:
    """Another process spinning on one CPU for the block (nothing if not ``wanted``)."""
    if not wanted:
        yield
        return
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        spinner.kill()
        spinner.wait()


@dataclass(frozen=True)
class Finished:
    cpu: float  # user + sys seconds of the profiler process
    said: List[Said]  # its messages, timed


class ProfilerRun:
    """A profiler process whose CPU time is read from its own rusage when reaped, and
    whose messages are timed as they arrive, to tell when it sampled."""

    def __init__(self, argv: List[str], timeout: float) -> None:
        # py-spy talks on stdout, memspy on stderr: one pipe takes both, line by line.
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.timer = threading.Timer(timeout, self.proc.kill)
        self.timer.start()
        self.said: List[Said] = []

    def _next(self) -> bool:
        line = self.proc.stdout.readline()
        if line:
            self.said.append(Said(time.monotonic(), line))
        return bool(line)

    def wait_for(self, marker: str) -> None:
        """Block until the profiler writes ``marker``: it has attached and samples."""
        while self._next():
            if marker in self.said[-1].line:
                return
        raise BenchError(f"profiler ended before sampling: {transcript(self.said)[-300:]}")

    def finish(self) -> Finished:
        while self._next():
            pass
        _, status, usage = os.wait4(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.timer.cancel()
        if self.proc.returncode != 0:
            raise BenchError(f"exit status {self.proc.returncode}: {transcript(self.said)[-300:]}")
        return Finished(usage.ru_utime + usage.ru_stime, self.said)


# --- measurements ----------------------------------------------------------------------


@dataclass(frozen=True)
class Sampled:
    cpu: float
    ticks: float  # sampling ticks in the output file
    seconds: float  # from its "sampling" message to its "stopped" one
    counts: ProfilerCounts


def sample(profiler: Profiler, pid: int, load: Workload, duration: int) -> Sampled:
    with tempfile.TemporaryDirectory(prefix="memspy-bench-") as tmp:
        out = os.path.join(tmp, "out.folded")
        run = ProfilerRun(profiler.argv(pid, load.rate, duration, out, load.idle), duration + GRACE)
        finished = run.finish()
        stacks = folded_total(Path(out).read_text())
    return Sampled(
        finished.cpu,
        stacks / load.stacks_per_tick,
        sampling_seconds(finished.said, profiler.started, profiler.stopped),
        profiler.counts(transcript(finished.said)),
    )


@dataclass(frozen=True)
class CpuRound:
    raw: float  # CPU seconds per sample of the long run, start-up included
    marginal: Optional[float]
    keep_up: float
    dropped: float


def cpu_round(
    python: Path, load: Workload, tools: Sequence[Profiler], short: int, long: int
) -> Dict[str, CpuRound]:
    """Every profiler, short then long, on one workload process."""
    runs: Dict[Tuple[str, int], Sampled] = {}
    with workload(python, load.name) as target:
        for duration in (short, long):
            for tool in tools:
                runs[tool.name, duration] = sample(tool, target.pid, load, duration)
    result = {}
    for tool in tools:
        brief, full = runs[tool.name, short], runs[tool.name, long]
        if not full.ticks:
            raise BenchError(f"{tool.name} took no samples")
        result[tool.name] = CpuRound(
            raw=full.cpu / full.ticks,
            marginal=marginal_per_sample(brief.cpu, brief.ticks, full.cpu, full.ticks),
            keep_up=full.ticks / (load.rate * full.seconds),
            dropped=full.counts.dropped_share,
        )
    return result


def timed_work(python: Path, iterations: int, tool: Optional[Profiler]) -> float:
    """Seconds the fixed workload needs, with ``tool`` attached at 100 Hz if given."""
    with workload(python, "fixed", str(iterations)) as target:
        run = None
        with tempfile.TemporaryDirectory(prefix="memspy-bench-") as tmp:
            if tool:
                # Far longer than the work: the profiler stops when its target exits.
                argv = tool.argv(target.pid, SLOWDOWN_RATE, 3600, os.path.join(tmp, "f"), False)
                run = ProfilerRun(argv, 300)
                run.wait_for(tool.started)
                time.sleep(0.2)
            target.stdin.write("go\n")
            target.stdin.flush()
            with deadline(target, 300):
                elapsed = workload_elapsed(target.stdout.readline())
            target.wait()  # reaped first: a zombie target would keep the profiler going
            if run:
                run.finish()
    return elapsed


# --- the run ---------------------------------------------------------------------------


@dataclass
class Results:
    cpu: Dict[Tuple[str, str, str], List[CpuRound]]  # (workload, python, profiler)
    work: Dict[Tuple[str, str], List[float]]  # (python, profiler or "none") -> seconds
    errors: List[str]


def run_all(
    pythons: Sequence[Interpreter], tools: Sequence[Profiler], args: argparse.Namespace
) -> Results:
    results = Results({}, {}, [])
    for round_index in range(args.rounds):
        # Alternate who goes first, so that neither always meets a warmer cache.
        order = list(tools) if round_index % 2 == 0 else list(reversed(tools))
        for python in pythons:
            for load in WORKLOADS:
                _progress(f"round {round_index + 1}: {load.name} on {python.id}")
                try:
                    found = cpu_round(python.path, load, order, args.short, args.long)
                except (BenchError, ValueError) as error:
                    results.errors.append(f"{load.name} on {python.id}: {error}")
                    continue
                for name, measured in found.items():
                    results.cpu.setdefault((load.name, python.id, name), []).append(measured)
            _progress(f"round {round_index + 1}: fixed work on {python.id}")
            try:  # a warm-up: the first run after the CPU rounds is up to 15% slower
                timed_work(python.path, args.fixed_iterations, None)
            except (BenchError, ValueError) as error:
                results.errors.append(f"fixed on {python.id}: {error}")
                continue
            for tool in _work_order(tools[:2], round_index, args.fixed_repeats):
                label = tool.name if tool else "none"
                try:
                    seconds = timed_work(python.path, args.fixed_iterations, tool)
                except (BenchError, ValueError) as error:
                    results.errors.append(f"fixed on {python.id} with {label}: {error}")
                    continue
                results.work.setdefault((python.id, label), []).append(seconds)
    return results


def _work_order(
    tools: Sequence[Profiler], round_index: int, repeats: int
) -> List[Optional[Profiler]]:
    """The fixed-work runs of one round: alone (None) and with each profiler, ``repeats``
    times, each time in a rotated order, so that no variant always runs first."""
    variants: List[Optional[Profiler]] = [None, *tools]
    runs = []
    for repeat in range(repeats):
        shift = (round_index * repeats + repeat) % len(variants)
        runs += variants[shift:] + variants[:shift]
    return runs


def _progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


# --- the table -------------------------------------------------------------------------

COLUMNS = (
    "workload",
    "python",
    "rate",
    "profiler",
    "raw µs/sample min/med",
    "marginal µs/sample min/med",
    "keep-up",
    "ratio raw",
    "ratio marginal",
    "dropped",
    "slowdown",
    "targets (memspy)",
)


def _us(pair: Tuple[Optional[float], Optional[float]]) -> str:
    low, mid = pair
    if low is None or mid is None:
        return "n/a"
    return f"{low * 1e6:.0f} / {mid * 1e6:.0f}"


def _ratio(mine: Optional[float], theirs: Optional[float]) -> Optional[float]:
    return mine / theirs if mine is not None and theirs else None


def _fmt(value: Optional[float], pattern: str) -> str:
    return "n/a" if value is None else pattern.format(value)


def _verdict(name: str, ok: Optional[bool]) -> str:
    return "" if ok is None else f"{name} {'ok' if ok else 'FAIL'}"


def cpu_rows(results: Results, pythons: Sequence[Interpreter]) -> List[List[str]]:
    rows = []
    for load in WORKLOADS:
        for python in pythons:
            rounds = {
                name: results.cpu.get((load.name, python.id, name), [])
                for name in ("py-spy", "memspy", "floor", "decode")
            }
            rounds = {name: got for name, got in rounds.items() if got}
            if not rounds.get("py-spy"):
                continue
            medians = {
                name: (
                    min_median([r.raw for r in got])[1],
                    min_median([r.marginal for r in got])[1],
                )
                for name, got in rounds.items()
            }
            for name, got in rounds.items():
                raw_ratio = _ratio(medians[name][0], medians["py-spy"][0])
                marginal_ratio = _ratio(medians[name][1], medians["py-spy"][1])
                keep_up = min_median([r.keep_up for r in got])[1]
                limit = 0.25 if python.version in NEW_VERSIONS else 0.5
                checks = []
                if name == "memspy":
                    if load.cpu_target and marginal_ratio is not None:
                        checks.append(_verdict(f"cpu≤{limit}", marginal_ratio <= limit))
                    if load.keep_up_target(python.version) and keep_up is not None:
                        checks.append(_verdict("keep-up", keep_up >= KEEP_UP_LIMIT))
                rows.append(
                    [
                        load.name,
                        python.id,
                        f"{load.rate:.0f}",
                        name,
                        _us(min_median([r.raw for r in got])),
                        _us(min_median([r.marginal for r in got])),
                        _fmt(keep_up, "{:.3f}"),
                        _fmt(raw_ratio, "{:.2f}"),
                        _fmt(marginal_ratio, "{:.2f}"),
                        _fmt(min_median([r.dropped for r in got])[1], "{:.2%}"),
                        "",
                        " ".join(checks),
                    ]
                )
    return rows


def slowdown_rows(results: Results, pythons: Sequence[Interpreter]) -> List[List[str]]:
    rows = []
    for python in pythons:
        alone = results.work.get((python.id, "none"))
        if not alone:
            continue
        for name in ("py-spy", "memspy"):
            profiled = results.work.get((python.id, name))
            if not profiled:
                continue
            slowdown = min(profiled) / min(alone) - 1
            verdict = _verdict("slowdown", slowdown <= SLOWDOWN_LIMIT) if name == "memspy" else ""
            rows.append(
                [
                    "fixed",
                    python.id,
                    f"{SLOWDOWN_RATE:.0f}",
                    name,
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    f"{slowdown:+.2%} ({min(profiled):.3f}s vs {min(alone):.3f}s)",
                    verdict,
                ]
            )
    return rows


def render(rows: List[List[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])
    widths = [max(len(str(cell)) for cell in column) for column in zip(COLUMNS, *rows)]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip()
        for row in [list(COLUMNS), *rows]
    )


def _command_output(argv: List[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError) as error:
        return f"({error})"


def header(args: argparse.Namespace, tools: Sequence[Profiler], load_before: str) -> List[str]:
    revision = _command_output(["git", "-C", str(ROOT), "describe", "--always", "--dirty"])
    return [
        f"memspy vs py-spy, {datetime.datetime.now():%Y-%m-%d %H:%M}, memspy {revision}, "
        f"{_command_output([tools[0].path, '--version'])}",
        f"rounds {args.rounds}; durations {args.short}s (short) and {args.long}s (long); "
        f"fixed work {args.fixed_iterations} iterations x {args.fixed_repeats} per round "
        f"at {SLOWDOWN_RATE:.0f} Hz",
        f"profilers: {', '.join(tool.path for tool in tools)}",
        f"another process keeps one CPU busy: {'yes (--busy)' if args.busy else 'no'}",
        f"load before: {load_before}",
        f"load after:  {_command_output(['uptime'])}",
    ]


LEGEND = """\
raw: CPU of one --long run (start-up included) / its samples. marginal: (CPU long - CPU
short) / (samples long - samples short), the steady cost. Ratios are memspy / py-spy of
the medians; the CPU target is judged on the marginal ratio. keep-up: ticks in the file /
(rate x seconds from the profiler's "sampling" message to its "stopped" one), long run;
py-spy announces itself a little after it starts, so it can show a few % above 1.
threads: both profilers with --idle, stacks divided by its 51 threads. dropped: attempted
samples the profiler discarded (memspy read errors, py-spy errors). slowdown: min
fixed-work time with the profiler / min without, minus 1. floor: scripts/bench_floor.py,
the least a Python sampler reading what memspy reads must do per tick (wake up, the one
batched read, and without --idle one /proc read per thread), decoding nothing. decode:
the floor and the least decoding (bench_floor.py --decode)."""


def choose(requested: Optional[List[str]], every: bool) -> List[Interpreter]:
    present = [python for python in all_interpreters() if python.present]
    if every:
        return present
    wanted = requested or list(DEFAULT_PYTHONS)
    chosen = [
        python
        for python in present
        if any(python.id == want or python.id.startswith(want + "-") for want in wanted)
    ]
    if not chosen:
        sys.exit(
            f"bench: none of {wanted} is installed; present: {', '.join(p.id for p in present)}"
        )
    return chosen


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--python",
        action="append",
        metavar="VERSION",
        help="interpreter id, e.g. 3.12 or 3.11-debian (repeatable)",
    )
    parser.add_argument("--all", action="store_true", help="every interpreter installed")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke check: 3.12 only, short runs, one round (slowdown: one run each, noise)",
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--short", type=int, default=1, help="seconds (py-spy wants whole ones)")
    parser.add_argument("--long", type=int, default=2, help="seconds")
    parser.add_argument("--fixed-iterations", type=int, default=20_000_000)
    parser.add_argument(
        "--fixed-repeats", type=int, default=2, help="fixed-work runs of each kind per round"
    )
    parser.add_argument("--markdown", metavar="PATH", help="also write the table as Markdown")
    parser.add_argument(
        "--busy",
        action="store_true",
        help="keep one CPU busy with another process throughout (the keep-up target's machine)",
    )
    parser.add_argument("--py-spy", dest="pyspy", metavar="PATH")
    parser.add_argument("--memspy", metavar="PATH")
    args = parser.parse_args(argv)
    if args.quick:
        args.python = args.python or ["3.12"]
        args.rounds, args.short, args.long = 1, 1, 2
        args.fixed_iterations, args.fixed_repeats = 10_000_000, 1
    if args.long <= args.short:
        parser.error("--long must be longer than --short")
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    pythons = choose(args.python, args.all)
    tools = profilers(args.pyspy, args.memspy)
    load_before = _command_output(["uptime"])
    began = time.monotonic()
    with busy_cpu(args.busy):
        results = run_all(pythons, tools, args)
    rows = cpu_rows(results, pythons) + slowdown_rows(results, pythons)
    lines = header(args, tools, load_before)
    lines.append(f"benchmark took {time.monotonic() - began:.0f}s")
    errors = [f"error: {error}" for error in results.errors]
    print("\n".join(lines) + "\n\n" + render(rows, False) + "\n\n" + LEGEND)
    print("\n".join(errors))
    if args.markdown:
        text = "\n\n".join(
            [
                "\n".join(f"- {line}" for line in lines),
                render(rows, True),
                LEGEND,
                "\n".join(f"- {error}" for error in errors),
            ]
        )
        Path(args.markdown).write_text(text.rstrip() + "\n")
    return 1 if results.errors else 0


if __name__ == "__main__":
    sys.exit(main())
