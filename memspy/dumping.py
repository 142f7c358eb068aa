"""Rendering one sample of every thread, as text for people or as py-spy-shaped JSON."""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Optional

from memspy.model import Frame, Sample, ThreadStack
from memspy.terminal import printable


def _short(filename: str) -> str:
    return os.path.basename(filename) or filename


def frame_json(frame: Frame) -> Dict[str, Any]:
    # Keys and types as `py-spy dump --json` writes them, so scripts work unchanged.
    # memspy reads no locals (null) and does not track eval-loop entry frames (false).
    return {
        "name": frame.name,
        "filename": frame.filename,
        "module": None,
        "short_filename": _short(frame.filename),
        "line": frame.lineno,
        "locals": None,
        "is_entry": False,
        "is_shim_entry": False,
    }


def thread_json(pid: int, thread: ThreadStack) -> Dict[str, Any]:
    return {
        "pid": pid,
        "thread_id": thread.thread_id,
        "thread_name": thread.name,
        "os_thread_id": thread.native_tid,
        "active": not thread.idle,
        "owns_gil": thread.holds_gil,
        "frames": [frame_json(f) for f in thread.frames],
        "process_info": None,
    }


def dump_json(sample: Sample) -> str:
    return json.dumps(
        [thread_json(sample.pid, t) for t in sample.threads], indent=2, ensure_ascii=False
    )


def dump_text(
    sample: Sample, command: str, version: str, binary: str, core: Optional[str] = None
) -> str:
    """``core``: the core file the sample was read from, if not from a live process."""
    source = f"Core file {printable(core)} of process" if core is not None else "Process"
    lines = [
        f"{source} {sample.pid}: {printable(command)}",
        f"Python v{version} ({printable(binary)})",
        "",
    ]
    for thread in sample.threads:
        state = ["idle" if thread.idle else "active"]
        if thread.holds_gil:
            state.append("gil")
        native = f", native {thread.native_tid}" if thread.native_tid else ""
        name = f': "{printable(thread.name)}"' if thread.name is not None else ""
        lines.append(f"Thread 0x{thread.thread_id:x} ({'+'.join(state)}{native}){name}")
        for frame in thread.frames:
            lines.append(
                f"    {printable(frame.name)} ({printable(frame.filename)}:{frame.lineno})"
            )
        if not thread.frames:
            lines.append("    (no Python frames)")
    return "\n".join(lines)
