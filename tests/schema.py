"""Validation of output files against their consumers' own schemas, shared by all tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

SPEEDSCOPE_SCHEMA = Path(__file__).parent / "data" / "speedscope-file-format-schema.json"


def speedscope_errors(document: Any) -> list[str]:
    """Every way ``document`` breaks speedscope's schema (empty when valid)."""
    schema = json.loads(SPEEDSCOPE_SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(document)
    ]
