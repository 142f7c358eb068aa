"""Rendering one sample of every thread, as text for people or as py-spy-shaped JSON."""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Sequence

from memspy.interpreter.objects.variables import Variable
from memspy.model import Frame, Sample, ThreadStack
from memspy.printable import printable


def _short(filename: str) -> str:
    return os.path.basename(filename) or filename


# A thread's frames' variables, a list per frame (None where they could not be read).
ThreadVariables = Sequence[Optional[Sequence[Variable]]]


def frame_json(frame: Frame, variables: Optional[Sequence[Variable]] = None) -> Dict[str, Any]:
    # Keys and types as `py-spy dump --json` writes them, so scripts work unchanged; an
    # unset variable has a null "repr". memspy does not track eval-loop entry frames.
    return {
        "name": frame.name,
        "filename": frame.filename,
        "module": None,
        "short_filename": _short(frame.filename),
        "line": frame.lineno,
        "locals": None if variables is None else [_variable_json(v) for v in variables],
        "is_entry": False,
        "is_shim_entry": False,
    }


def _variable_json(variable: Variable) -> Dict[str, Any]:
    return {"name": variable.name, "addr": variable.addr, "arg": variable.is_arg,
            "repr": variable.value}


def thread_json(
    pid: int, thread: ThreadStack, variables: Optional[ThreadVariables] = None
) -> Dict[str, Any]:
    each = list(variables) if variables is not None else [None] * len(thread.frames)
    return {
        "pid": pid,
        "thread_id": thread.thread_id,
        "thread_name": thread.name,
        "os_thread_id": thread.native_tid,
        "active": not thread.idle,
        "owns_gil": thread.holds_gil,
        "frames": [frame_json(f, v) for f, v in zip(thread.frames, each)],
        "process_info": None,
    }


def dump_json(sample: Sample, variables: Optional[Dict[int, ThreadVariables]] = None) -> str:
    variables = variables or {}
    return json.dumps(
        [thread_json(sample.pid, t, variables.get(t.thread_id)) for t in sample.threads],
        indent=2,
        ensure_ascii=False,
    )


def _variable_lines(variables: Optional[Sequence[Variable]]) -> List[str]:
    """A frame's arguments, then its other variables, under headings as py-spy prints them."""
    if variables is None:
        return ["        (variables not readable)"]
    lines = []
    for heading, wanted in (("Arguments:", True), ("Locals:", False)):
        group = [v for v in variables if v.is_arg == wanted]
        if group:
            lines.append(f"        {heading}")
        for v in group:
            value = v.value if v.value is not None else "(unset)"
            lines.append(f"            {printable(v.name)}: {value}")
    return lines


def dump_text(
    sample: Sample, command: str, version: str, binary: str,
    variables: Optional[Dict[int, ThreadVariables]] = None, core: Optional[str] = None,
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
        each = variables.get(thread.thread_id) if variables is not None else None
        for index, frame in enumerate(thread.frames):
            lines.append(
                f"    {printable(frame.name)} ({printable(frame.filename)}:{frame.lineno})"
            )
            if variables is not None:
                lines += _variable_lines(each[index] if each is not None else None)
        if not thread.frames:
            lines.append("    (no Python frames)")
    return "\n".join(lines)
