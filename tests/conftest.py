"""Fixtures shared by unit and integration tests."""

from __future__ import annotations

from typing import Any, Callable

import pytest
from schema import speedscope_errors as _speedscope_errors


@pytest.fixture
def speedscope_errors() -> Callable[[Any], list[str]]:
    """Validate a parsed speedscope document against speedscope's own schema."""
    return _speedscope_errors
