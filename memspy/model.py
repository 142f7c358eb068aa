"""The contract between the readers (memory walker, USDT events) and the writers (collectors).

Everything here is immutable and free of any notion of where it came from, so a collector
cannot tell a sampled stack from one rebuilt out of trace events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple, Optional, Tuple


class Frame(NamedTuple):
    """One Python frame. ``lineno`` is 0 when the interpreter has no line for the position.

    A named tuple, not a dataclass: every sample hashes its stack of frames (to intern it),
    and a tuple of strings hashes in C with the strings' cached hashes, several times
    faster than a dataclass's ``__hash__``.
    """

    name: str
    filename: str
    lineno: int = 0
    # Where the function begins (co_firstlineno), for formats that name functions by their
    # start (pprof); 0 when the source does not say (the USDT probes do not).
    firstlineno: int = 0


class ThreadStack(NamedTuple):
    """A thread's Python stack at one moment, innermost frame first.

    Named tuples like ``Frame``: one is made per thread per sample, at half the cost of a
    frozen dataclass.

    ``thread_id`` is the interpreter's ident (``threading.get_ident()``, the pthread_t);
    ``native_tid`` is the kernel's id, when it could be learnt.
    """

    thread_id: int
    native_tid: Optional[int]
    name: Optional[str]
    holds_gil: bool
    idle: bool
    frames: Tuple[Frame, ...]


class Sample(NamedTuple):
    """All threads of one process at one moment. ``time`` is seconds on the monotonic clock."""

    time: float
    pid: int
    threads: Tuple[ThreadStack, ...]


@dataclass(frozen=True)
class TraceEvent:
    """A function entry or return seen by a tracer (the USDT path).

    ``kind`` is "enter" or "leave"; ``frame`` names the function entered or left (its line
    is the function's first line, or the line of the event when the tracer knows it).
    """

    time: float
    pid: int
    thread_id: int
    kind: str
    frame: Frame
    thread_name: Optional[str] = None


@dataclass(frozen=True)
class ProfileInfo:
    """What a writer needs to know about the recording as a whole."""

    pid: int
    command: str = ""
    python_version: str = ""
    rate_hz: float = 100.0
    start_time_ns: int = 0
    duration_s: float = 0.0
    mode: str = "wall"  # "wall" when idle threads are sampled too, else "cpu"
    extra: Tuple[Tuple[str, str], ...] = field(default_factory=tuple)
