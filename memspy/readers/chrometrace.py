"""Trace Event files: per thread, begin/end slices rebuilt into the stack held between
consecutive events, weighted by how long it was held (microseconds)."""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

from memspy.collectors.stacks import FrameKey
from memspy.readers.profile import LoadedProfile


def read_chrometrace(path: str, document: Any) -> LoadedProfile:
    profile = LoadedProfile(path, "chrometrace", "microseconds")
    other = document.get("otherData") or {}
    if other.get("pid"):
        profile.facts["pid"] = str(other["pid"])
    threads: Dict[Tuple[Any, Any], Tuple[List[FrameKey], List[float]]] = {}
    slices = [e for e in document["traceEvents"] if e.get("ph") in ("B", "E")]
    for event in sorted(slices, key=lambda e: float(e["ts"])):
        stack, last = threads.setdefault((event.get("pid"), event.get("tid")), ([], []))
        at = float(event["ts"])
        if last and stack:
            profile.add(tuple(stack), at - last[0])
        last[:] = [at]
        if event["ph"] == "B":
            args = event.get("args") or {}
            line = int(args["line"]) if args.get("line") else None
            stack.append(FrameKey(str(event["name"]), args.get("file"), line))
        elif stack:
            stack.pop()
    return profile
