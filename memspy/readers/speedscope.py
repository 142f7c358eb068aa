"""speedscope files: sampled profiles (weights per stack) and evented ones (open/close times).

Weights are summed over every profile in the file, so a multi-thread recording reads as one
profile with each thread's samples in it.
"""

from __future__ import annotations

from typing import Any

from memspy.collectors.stacks import FrameKey
from memspy.readers.profile import LoadedProfile


def _frame(entry: Any) -> FrameKey:
    name = str(entry["name"])
    line = entry.get("line")
    return FrameKey(name, entry.get("file"), int(line) if line else None)


# Seconds per unit of a speedscope profile's values.
_SECONDS = {"seconds": 1.0, "milliseconds": 1e-3, "microseconds": 1e-6, "nanoseconds": 1e-9}


def read_speedscope(path: str, document: Any) -> LoadedProfile:
    frames = [_frame(entry) for entry in document["shared"]["frames"]]
    units = {profile.get("unit", "none") for profile in document["profiles"]}
    unit = units.pop() if len(units) == 1 else "none"
    profile = LoadedProfile(path, "speedscope", unit if unit != "none" else "samples")
    exporter = document.get("exporter")
    if exporter:
        profile.facts["exporter"] = str(exporter)
    if document.get("name"):
        profile.facts["name"] = str(document["name"])
    for item in document["profiles"]:
        if item["type"] == "sampled":
            for stack, weight in zip(item["samples"], item["weights"]):
                profile.add(tuple(frames[i] for i in stack), float(weight))
        elif item["type"] == "evented":
            profile.add_timeline(
                (float(e["at"]), frames[e["frame"]] if e["type"] == "O" else None)
                for e in item["events"]
            )
        else:
            raise ValueError(f"unknown profile type {item['type']!r}")
    # A sampled profile spans the time its thread was sampled: the longest one is the
    # closest the format comes to the recording's wall time.
    spans = [float(p["endValue"]) - float(p["startValue"]) for p in document["profiles"]]
    if unit in _SECONDS and spans:
        profile.seconds = max(spans) * _SECONDS[unit]
    elif unit == "none" and spans:
        profile.samples = round(max(spans))  # one unit per sample
    return profile

