"""Trace Event files: per thread, begin/end slices rebuilt into the stack held between
consecutive events, weighted by how long it was held (microseconds)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from memspy.collectors.stacks import FrameKey
from memspy.readers.profile import LoadedProfile


def read_chrometrace(path: str, document: Any) -> LoadedProfile:
    profile = LoadedProfile(path, "chrometrace", "microseconds")
    other = document.get("otherData") or {}
    if other.get("pid"):
        profile.facts["pid"] = str(other["pid"])
    if str(other.get("samples", "")).isdigit():
        profile.samples = int(other["samples"])
    timelines: Dict[Tuple[Any, Any], List[Tuple[float, Optional[FrameKey]]]] = {}
    for event in document["traceEvents"]:
        if event.get("ph") not in ("B", "E"):
            continue
        frame = None
        if event["ph"] == "B":
            args = event.get("args") or {}
            line = int(args["line"]) if args.get("line") else None
            frame = FrameKey(str(event["name"]), args.get("file"), line)
        key = (event.get("pid"), event.get("tid"))
        timelines.setdefault(key, []).append((float(event["ts"]), frame))
    for timeline in timelines.values():
        # Stable: events at the same time keep the file's order (an end before a begin).
        profile.add_timeline(sorted(timeline, key=lambda e: e[0]))
    times = [at for timeline in timelines.values() for at, _ in timeline]
    if times:
        profile.seconds = (max(times) - min(times)) * 1e-6
    return profile
