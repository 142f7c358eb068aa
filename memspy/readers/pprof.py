"""pprof files (gzip-compressed ``profile.proto``): every sample's stack, weighted by its
count when the profile has a ``samples``/``count`` value, else by its first value.

The file is untrusted input: a damaged one is an InputError naming what is wrong, never a
traceback, and its decompressed size is bounded.
"""

from __future__ import annotations

import gzip
import io
import zlib
from typing import Any, Dict, List, Sequence, Tuple

from memspy.collectors import pprof_proto
from memspy.collectors.pprof import COUNT_TYPE, NANOSECONDS, PID
from memspy.collectors.stacks import FrameKey
from memspy.errors import InputError
from memspy.readers.profile import LoadedProfile

GZIP_MAGIC = b"\x1f\x8b"
# Far above any profile memspy writes (a long run of varied stacks is a few MiB), far
# below what would exhaust memory: a small file that inflates past it is refused.
MAX_DECOMPRESSED = 512 << 20
_UNITS = {
    "count": "samples",
    NANOSECONDS: NANOSECONDS,
    "microseconds": "microseconds",
    "seconds": "seconds",
}
_HINT = "was it written by memspy, and completely?"


def read_pprof(path: str, data: bytes) -> LoadedProfile:
    message = _parse(path, _gunzip(path, data))
    try:
        return _load(path, message)
    except (IndexError, KeyError, ValueError) as error:
        raise InputError(f"cannot read {path}: malformed pprof profile ({error})", _HINT) from None


def _gunzip(path: str, data: bytes) -> bytes:
    if not data.startswith(GZIP_MAGIC):
        raise InputError(
            f"cannot read {path}: not gzip-compressed, so not a pprof file",
            "pprof files are gzip-compressed profile.proto (memspy record --format pprof)",
        )
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            raw = stream.read(MAX_DECOMPRESSED + 1)
    except (OSError, EOFError, zlib.error) as error:
        raise InputError(f"cannot read {path}: damaged gzip data ({error})", _HINT) from None
    if len(raw) > MAX_DECOMPRESSED:
        raise InputError(
            f"cannot read {path}: it inflates to more than {MAX_DECOMPRESSED >> 20} MiB",
            "memspy reads only profiles of a sane size",
        )
    return raw


def _parse(path: str, raw: bytes) -> Any:
    message = pprof_proto.load().Profile()
    # Only now: protobuf is importable once load() has worked.
    from google.protobuf.message import DecodeError

    try:
        message.ParseFromString(raw)
    except DecodeError as error:
        raise InputError(f"cannot read {path}: damaged profile.proto ({error})", _HINT) from None
    if not message.sample_type:
        raise InputError(f"cannot read {path}: not a pprof profile (no sample types)", _HINT)
    return message


class _StringTable:
    """Indexes as pprof means them: a negative one is damage, not Python's count from the end."""

    def __init__(self, table: Sequence[str]) -> None:
        if not table or table[0]:
            raise ValueError("the string table does not start with the empty string")
        self._table = list(table)

    def __getitem__(self, index: int) -> str:
        if index < 0:
            raise IndexError(f"string index {index}")
        return self._table[index]


def _load(path: str, message: Any) -> LoadedProfile:
    strings = _StringTable(message.string_table)
    types = [(strings[t.type], strings[t.unit]) for t in message.sample_type]
    column = types.index(COUNT_TYPE) if COUNT_TYPE in types else 0
    unit = types[column][1]
    profile = LoadedProfile(path, "pprof", _UNITS.get(unit, unit))
    locations = _locations(message, strings)
    pids = set()
    for sample in message.sample:
        if len(sample.value) != len(types):
            raise ValueError(f"a sample has {len(sample.value)} values for {len(types)} types")
        # Leaf first in the file; a location's lines are innermost (inlined) first too.
        stack = tuple(
            frame
            for location_id in reversed(sample.location_id)
            for frame in reversed(locations[location_id])
        )
        profile.add(stack, float(sample.value[column]))
        pids.update(tag.num for tag in sample.label if strings[tag.key] == PID and not tag.str)
    profile.facts.update(_facts(message, strings, pids, sampled=COUNT_TYPE in types))
    if message.duration_nanos > 0:
        profile.seconds = message.duration_nanos * 1e-9
    if profile.facts.get("samples", "").isdigit():
        profile.samples = int(profile.facts.pop("samples"))
    return profile


def _locations(message: Any, strings: _StringTable) -> Dict[int, List[FrameKey]]:
    functions: Dict[int, Tuple[str, str]] = {
        function.id: (strings[function.name], strings[function.filename])
        for function in message.function
    }
    locations = {}
    for location in message.location:
        frames = []
        for line in location.line:
            name, filename = functions[line.function_id]
            frames.append(FrameKey(name, filename or None, line.line or None))
        locations[location.id] = frames
    return locations


def _facts(message: Any, strings: _StringTable, pids: set, sampled: bool) -> Dict[str, str]:
    """The ``key: value`` comments memspy writes, the process ids and the sampling rate."""
    facts = {}
    for index in message.comment:
        key, colon, value = strings[index].partition(": ")
        if colon:
            facts[key] = value
    if pids:
        facts["pid"] = ", ".join(str(pid) for pid in sorted(pids))
    if sampled and strings[message.period_type.unit] == NANOSECONDS and message.period > 0:
        facts["rate"] = f"{1e9 / message.period:.6g} Hz"
    return facts
