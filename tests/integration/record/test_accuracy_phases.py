"""Are memspy's shares the program's real shares where sampling is hardest? A workload
(scripts/bench_workloads/phases.py) times each of its phases itself (the monotonic clock,
read without a system call) and prints the truth; one phase is made of calls a few
microseconds long, or of a generator that yields every few microseconds, the kind of code
whose time a sampler that re-reads or drops torn stacks moves elsewhere. Every
interpreter, non-blocking, 1000 Hz; and wall-clock mode (two threads), --blocking and
--subprocesses on one interpreter of each frame model.

The tolerance is set from the measured spread (the noise of a share over ~3,000 samples
is about one point; the benchmark ``scripts/bench_accuracy.py`` shows the tight figures):
wide enough never to fail by chance on a busy machine, narrow enough that the biases this
guards against (5 to 30 points before stacks were read at one instant) fail it.
"""

from __future__ import annotations

from pathlib import Path
from typing import List

import pytest
from interpreters import INTERPRETERS, Interpreter
from phase_truth import phase_shares, truth_of, worst_error
from recorder import folded, record

PHASES = Path(__file__).resolve().parents[3] / "scripts" / "bench_workloads" / "phases.py"
SECONDS = 3.5
TOLERANCE = 0.04  # worst phase, as a share


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["calls", "generator"])
def test_every_phase_share_matches_the_time_the_target_measured(
    interpreter: Interpreter, kind: str, tmp_path: Path
) -> None:
    command = [str(interpreter.path), str(PHASES), kind, str(SECONDS)]
    _check_shares(tmp_path, [], command, least=1500)


def _check_shares(tmp_path: Path, flags: List[str], command: List[str], least: int) -> None:
    """Record ``command`` at 1000 Hz with ``flags``; every phase's share within TOLERANCE
    of the truth the workload printed, over at least ``least`` samples."""
    out = tmp_path / "phases.folded"
    result = record(["--rate", "1000", "-f", "collapsed", "-o", str(out), *flags, "--", *command])
    assert result.returncode == 0, result.stderr
    truth = truth_of(result.stdout)
    shares, total = phase_shares(folded(out).items(), truth)
    assert total > least, result.stderr
    errors = {phase: (round(shares[phase], 4), round(truth[phase], 4)) for phase in truth}
    assert worst_error(truth, shares) <= TOLERANCE, (
        f"{flags}: (memspy, truth) per phase: {errors}; {result.stderr[-300:]}"
    )


# One interpreter of each frame model (heap frames ≤3.10, data-stack frames 3.11+).
ERAS = [i for i in INTERPRETERS if i.id in ("3.9", "3.13")]
MODES = {
    # Two threads, wall time: each phase's share of both threads' time.
    "idle": ("threads", ["--idle"]),
    "blocking": ("calls", ["--blocking"]),
    # The workload as the child of a shell (which forks it: the "; true").
    "subprocesses": ("calls", ["--subprocesses"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("python", ERAS, ids=[i.id for i in ERAS])
def test_shares_hold_in_every_mode(python: Interpreter, mode: str, tmp_path: Path) -> None:
    python.require()
    kind, flags = MODES[mode]
    command = [str(python.path), str(PHASES), kind, str(SECONDS)]
    if mode == "subprocesses":
        command = ["/bin/sh", "-c", " ".join(command) + "; true"]
    _check_shares(tmp_path, flags, command, least=1000)
