"""Fixtures of the integration tests: one parameter per interpreter, parked targets."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from interpreters import INTERPRETERS, Interpreter
from target import Target, start_target


@pytest.fixture(params=INTERPRETERS, ids=[i.id for i in INTERPRETERS])
def interpreter(request: pytest.FixtureRequest) -> Interpreter:
    """Each expected interpreter in turn; an absent one skips, naming its path."""
    request.param.require()
    return request.param


@pytest.fixture
def parked(interpreter: Interpreter, tmp_path: Path) -> Iterator[Target]:
    """tests/targets/parked.py running under ``interpreter``, every thread in place."""
    target = start_target(interpreter.path, tmp_path)
    try:
        yield target
    finally:
        target.kill()
