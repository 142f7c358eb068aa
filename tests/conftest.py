"""Fixtures shared by unit and integration tests."""

from __future__ import annotations

import gc
from typing import Any, Callable, Iterator

import pytest
from descriptors import open_descriptors
from schema import speedscope_errors as _speedscope_errors

# Descriptors a test module may leave open (a cache, a pipe a later module closes). The
# leaks this guards against were a few per test: readers dropped unclosed, whose stat
# files took the suite past descriptor 1023, where every ``select`` after failed.
LEFT_OPEN = 8


@pytest.fixture
def speedscope_errors() -> Callable[[Any], list[str]]:
    """Validate a parsed speedscope document against speedscope's own schema."""
    return _speedscope_errors


@pytest.fixture(autouse=True, scope="module")
def _closes_what_it_opens() -> Iterator[None]:
    """Each test module closes the descriptors it opens: a leak fails where it is made,
    not hundreds of tests later."""
    before = open_descriptors()
    yield
    gc.collect()  # what is closed when collected
    left = {fd: path for fd, path in open_descriptors().items() if before.get(fd) != path}
    assert len(left) <= LEFT_OPEN, f"{len(left)} descriptors left open: {sorted(left.values())}"

