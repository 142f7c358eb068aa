"""Folded stacks, ``root;...;leaf count`` per line, with memspy's (py-spy's) frame labels:
``name (file:line)``, ``name (file)``, or a bare thread root ``name (tid)``."""

from __future__ import annotations

import re

from memspy.collectors.stacks import FrameKey
from memspy.errors import InputError
from memspy.readers import READABLE
from memspy.readers.profile import LoadedProfile

_LABEL = re.compile(r"^(?P<name>.*) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")
_THREAD_ID = re.compile(r"^(\d+|0x[0-9a-f]+)$")


def parse_label(label: str) -> FrameKey:
    match = _LABEL.match(label)
    if match is None:
        return FrameKey(label, None, None)
    if _THREAD_ID.match(match["file"]) and match["line"] is None:
        return FrameKey(label, None, None)  # the thread root frame of --threads
    line = match["line"]
    return FrameKey(match["name"], match["file"], int(line) if line else None)


def read_collapsed(path: str, data: bytes) -> LoadedProfile:
    profile = LoadedProfile(path, "collapsed")
    text = data.decode("utf-8", "replace")
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            raise InputError(
                f"cannot read {path}: line {number} is not `frame;frame;... count`",
                f"report and diff read {READABLE} files",
            )
        profile.add(tuple(parse_label(label) for label in stack.split(";")), int(count))
    # Counts are per thread and stack: their sum is the samples when one thread was
    # sampled, more with several. No times are kept.
    return profile
