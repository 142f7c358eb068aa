"""What a shell or a CI script relies on: the command after ``--`` is reported as a shell
would (127 not found, 126 not runnable), wrong usage exits 2 naming what was wrong, and an
output path is checked before any sampling."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

MEMSPY = [sys.executable, "-m", "memspy"]


def memspy(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*MEMSPY, *args], capture_output=True, text=True, timeout=60)


def one_line(result: subprocess.CompletedProcess, code: int, *words: str) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("memspy: error: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.mark.parametrize("command", ["record", "trace"])
def test_a_command_that_does_not_exist_exits_127(command: str, tmp_path: Path) -> None:
    result = memspy(command, "-o", str(tmp_path / "x.json"), "--", "no-such-command-here")
    one_line(result, 127, "command not found: no-such-command-here")


@pytest.mark.parametrize("command", ["record", "trace"])
def test_a_file_that_cannot_run_exits_126(command: str, tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text("print('hi')\n")
    result = memspy(command, "-o", str(tmp_path / "x.json"), "--", str(script))
    one_line(result, 126, f"cannot run {script}: it is not executable")
    result = memspy(command, "-o", str(tmp_path / "x.json"), "--", str(tmp_path))
    one_line(result, 126, "is a directory")


def test_probes_without_arguments_is_wrong_usage() -> None:
    result = memspy("probes")
    assert result.returncode == 2, result.stderr
    assert "give either -p PID or PATH" in result.stderr


def test_a_misspelt_option_after_the_pid_is_named() -> None:
    result = memspy("record", "-p", "1", "--rte", "100")
    assert result.returncode == 2, result.stderr
    assert "no such option: --rte" in result.stderr


def test_standard_output_needs_a_format() -> None:
    result = memspy("record", "-o", "-", "--", sys.executable, "-c", "pass")
    one_line(result, 8, "standard output", "--format")


def test_an_output_in_proc_names_the_real_cause() -> None:
    result = memspy("record", "-o", "/proc/x.json", "--", sys.executable, "-c", "pass")
    one_line(result, 8, "/proc does not take new files")
