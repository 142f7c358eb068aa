"""memspy as a CI job uses it: wrap a test run, write a summary, report an artifact, and gate
on a diff against the last profile."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest
from recorder import DEMO, TIMEOUT, folded, frame_names, record

from memspy.collectors import FORMATS

MEMSPY = [sys.executable, "-m", "memspy"]
STACK_FORMATS = {"speedscope": ".speedscope.json", "collapsed": ".folded",
                 "chrometrace": ".trace.json", "pprof": ".pb.gz"}

POOL_TESTS = """
import multiprocessing, os, time

def burn(seconds):
    end = time.time() + seconds
    while time.time() < end:
        pass
    return seconds

def test_pool():
    with multiprocessing.get_context("fork").Pool(2) as pool:
        assert pool.map(burn, [1.0, 1.0]) == [1.0, 1.0]

def test_maybe_failing():
    assert os.environ.get("FAIL") != "1"
"""


def _memspy(args: List[str]) -> subprocess.CompletedProcess:
    return subprocess.run([*MEMSPY, *args], capture_output=True, text=True, timeout=TIMEOUT)


def _demo_split(out: Path, split: float, *extra: str) -> subprocess.Popen:
    """``record`` of the demo with ``split`` of its CPU time in heavy(), started, not waited."""
    return subprocess.Popen(
        [*MEMSPY, "record", "-r", "500", "-o", str(out), *extra, "--", sys.executable, str(DEMO),
         "--seconds", "2", "--split", str(split), "--slice", "0.0137"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _finish(process: subprocess.Popen) -> tuple:
    stdout, stderr = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0, stderr
    return stdout, stderr


@pytest.mark.parametrize("fail", [False, True])
def test_wrapping_pytest_with_a_pool(tmp_path: Path, fail: bool):
    """pytest's exit status and output pass through; the pool's workers are sampled."""
    (tmp_path / "test_pool.py").write_text(POOL_TESTS)
    out = tmp_path / "run.folded"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)]
    env = {"FAIL": "1" if fail else "0"}
    plain = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT,
                           env={**os.environ, **env})
    result = subprocess.run([*MEMSPY, "record", "--subprocesses", "-o", str(out), "--",
                             *command], capture_output=True, text=True, timeout=TIMEOUT,
                            env={**os.environ, **env})
    assert result.returncode == plain.returncode == (1 if fail else 0), result.stderr
    assert _without_timings(result.stdout) == _without_timings(plain.stdout)
    assert "memspy" not in result.stdout
    burning = sum(n for stack, n in folded(out).items() if "burn" in frame_names(stack))
    assert burning > 50, result.stderr  # two workers, 1 s each, at 100 Hz


def test_without_subprocesses_only_the_test_runner_is_sampled(tmp_path: Path):
    (tmp_path / "test_pool.py").write_text(POOL_TESTS)
    out = tmp_path / "run.folded"
    result = record(["-o", str(out), "--", sys.executable, "-m", "pytest", "-q", "-p",
                     "no:cacheprovider", str(tmp_path)])
    assert result.returncode == 0, result.stderr
    stacks = folded(out)
    assert stacks and not any("burn" in frame_names(stack) for stack in stacks)


def _without_timings(text: str) -> str:
    return re.sub(r"in [\d.]+s", "in Ns", text)


def _shares(markdown: str, table: str) -> dict:
    """{function: share} from the Markdown table after ``table``'s heading."""
    section = markdown.split(f"Top functions by {table} share:")[1].split("Top functions")[0]
    column = 1 if table == "own" else 2
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 4 and cells[2].startswith("`"):
            rows[cells[2].strip("`")] = float(cells[column - 1].rstrip("%")) / 100
    return rows


def test_markdown_summary_of_a_known_workload(tmp_path: Path):
    out, summary = tmp_path / "demo.speedscope.json", tmp_path / "summary.md"
    stdout, stderr = _finish(_demo_split(out, 0.7, "--summary", str(summary)))
    truth = json.loads(stdout)["heavy"]
    markdown = summary.read_text()
    assert markdown.startswith("### memspy profile")
    for fact in ("**Python**: 3.", "**samples**:", "**rate**:", "**errors**:", "**command**:"):
        assert fact in markdown, markdown
    total = _shares(markdown, "total")
    measured = total["heavy"] / (total["heavy"] + total["light"])
    assert abs(measured - truth) < 0.04, markdown
    assert "top functions by total share" in stderr  # the same table, as text, on stderr


def test_diff_names_the_grown_function_first_and_gates(tmp_path: Path):
    base, head = tmp_path / "base.folded", tmp_path / "head.speedscope.json"
    runs = [_demo_split(base, 0.7), _demo_split(head, 0.3)]
    for run in runs:
        _finish(run)
    result = _memspy(["diff", str(base), str(head), "--by", "total", "--format", "json"])
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["grew"][0]["name"] == "light"
    assert any(c["name"] == "heavy" for c in document["shrank"][:2])
    gated = _memspy(["diff", str(base), str(head), "--by", "total", "--threshold", "10"])
    assert gated.returncode == 12, gated.stderr
    assert re.search(r"regression: light .* grew by [\d.]+ points", gated.stderr)
    assert _memspy(["diff", str(base), str(head), "--by", "total", "-t", "90"]).returncode == 0
    # The other way round heavy grew: the text table names it first, and the gate fails.
    reverse = _memspy(["diff", str(head), str(base), "--by", "total", "-t", "10"])
    assert reverse.returncode == 12, reverse.stderr
    assert re.search(r"regression: heavy .* grew by [\d.]+ points", reverse.stderr)
    lines = reverse.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.rstrip().endswith("grew most"))
    assert "heavy" in lines[header + 1], reverse.stdout


@pytest.mark.parametrize("fmt", [f for f in STACK_FORMATS if f in FORMATS])
def test_report_on_every_format_that_keeps_stacks(tmp_path: Path, fmt: str):
    out = tmp_path / f"demo{STACK_FORMATS[fmt]}"
    _finish(_demo_split(out, 0.7, "--format", fmt))
    text = _memspy(["report", str(out)])
    assert text.returncode == 0, text.stderr
    assert f"format: {fmt}" in text.stdout and "heavy" in text.stdout
    document = json.loads(_memspy(["report", str(out), "-f", "json", "-n", "50"]).stdout)
    total = {f["name"]: f["total"] for f in document["by_total"]}
    assert total["heavy"] > total["light"] > 0.1, document
    markdown = _memspy(["report", str(out), "--format", "markdown"]).stdout
    assert "| own | total | function | file |" in markdown


def test_report_and_diff_refuse_damaged_files(tmp_path: Path):
    bad = tmp_path / "cut.speedscope.json"
    bad.write_text('{"shared": {"frames": [{"name": "f"}]}, "profiles": [{"type": "sa')
    for args in (["report", str(bad)], ["diff", str(bad), str(bad)]):
        result = _memspy(args)
        assert result.returncode == 9, result.stderr
        assert result.stderr.startswith("memspy: error: cannot read") and "Traceback" not in \
            result.stderr
