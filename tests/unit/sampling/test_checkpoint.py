"""Checkpoints: written by a forked copy, one at a time, never after the final write."""

from __future__ import annotations

import time
from pathlib import Path

from memspy.sampling.checkpoint import Checkpoints


def test_a_checkpoint_is_written_by_a_copy_once_due(tmp_path: Path) -> None:
    """The copy sees the state at the fork; the parent's later changes are not in it."""
    out = tmp_path / "checkpoint.txt"
    state = ["before"]
    checkpoints = Checkpoints(interval=0.2)
    checkpoints.due(lambda: out.write_text(state[0]))
    assert not out.exists()  # not due yet
    time.sleep(0.25)
    checkpoints.due(lambda: out.write_text(state[0]))
    state[0] = "after"
    checkpoints.finish()
    assert out.read_text() == "before"
    assert (checkpoints.written, checkpoints.failed) == (1, 0)


def test_one_copy_at_a_time_and_the_final_write_waits_for_it(tmp_path: Path) -> None:
    out = tmp_path / "order.txt"

    def slow() -> None:
        time.sleep(0.5)
        with out.open("a") as stream:
            stream.write("checkpoint\n")

    checkpoints = Checkpoints(interval=0.0)
    checkpoints.due(slow)
    checkpoints.due(slow)  # the first copy still writes: none is started
    checkpoints.finish()
    with out.open("a") as stream:
        stream.write("final\n")
    assert out.read_text() == "checkpoint\nfinal\n"
    assert checkpoints.written == 1


def test_a_failed_checkpoint_is_counted_and_the_next_one_tried(tmp_path: Path) -> None:
    def broken() -> None:
        raise OSError("disk full")

    checkpoints = Checkpoints(interval=0.0)
    checkpoints.due(broken)
    checkpoints.finish()
    checkpoints.due(lambda: (tmp_path / "ok").write_text("ok"))
    checkpoints.finish()
    assert (checkpoints.written, checkpoints.failed) == (1, 1)
