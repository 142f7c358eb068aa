"""Reading back the profiles memspy writes, whatever the format, for ``report`` and ``diff``.

The format is recognised from the content (a gzip header, a JSON document's keys, folded
lines), not trusted from the file name: CI artifacts get renamed.

May import ``collectors``, ``interpreter`` and below.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Dict

from memspy.errors import InputError
from memspy.readers.pprof import GZIP_MAGIC, read_pprof
from memspy.readers.profile import LoadedProfile, Stack

READABLE = "speedscope, collapsed, chrometrace or pprof"


def load_profile(path: str) -> LoadedProfile:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise InputError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise InputError(f"{path} is a directory, not a profile") from None
    except PermissionError:
        raise InputError(f"cannot read {path}: permission denied") from None
    if not data.strip():
        raise InputError(f"{path} is empty", "was the profile written completely?")
    if data.startswith(GZIP_MAGIC) or path.lower().endswith((".pb.gz", ".pprof")):
        return read_pprof(path, data)
    stripped = data.lstrip()
    if stripped[:5].lower() in (b"<?xml", b"<svg ", b"<svg>", b"<!doc", b"<html"):
        raise InputError(
            f"{path} is an SVG or other markup, which keeps only a picture of the stacks",
            f"report and diff read {READABLE} files",
        )
    if stripped.startswith((b"{", b"[")):
        return _read_json(path, data)
    from memspy.readers.collapsed import read_collapsed

    return read_collapsed(path, data)


def _read_json(path: str, data: bytes) -> LoadedProfile:
    from memspy.readers.chrometrace import read_chrometrace
    from memspy.readers.speedscope import read_speedscope

    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        raise InputError(
            f"cannot read {path}: not valid JSON ({error})", "is the file truncated?"
        ) from None
    readers: Dict[str, Callable[[str, Any], LoadedProfile]] = {
        "shared": read_speedscope,
        "traceEvents": read_chrometrace,
    }
    if isinstance(document, list):
        return read_chrometrace(path, {"traceEvents": document})
    for key, reader in readers.items():
        if isinstance(document, dict) and key in document:
            return malformed_as_input_error(path, reader, document)
    raise InputError(
        f"{path} is JSON but not a profile memspy can read", f"report and diff read {READABLE}"
    )


def malformed_as_input_error(
    path: str, reader: Callable[[str, Any], LoadedProfile], document: Any
) -> LoadedProfile:
    """A document of the right kind with the wrong insides is a damaged file, not a bug."""
    try:
        return reader(path, document)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as error:
        raise InputError(
            f"cannot read {path}: malformed profile ({type(error).__name__}: {error})",
            "was it written by memspy, and completely?",
        ) from None


__all__ = ["READABLE", "LoadedProfile", "Stack", "load_profile"]
