"""Rebuilding per-thread stacks from a tracer's enter/leave events (the USDT path).

A tracer attached mid-run sees returns from functions it never saw entered, and a run cut
short leaves functions open; both are normal, so neither is an error: an unmatched leave is
dropped, and whatever is still open is closed at the last timestamp seen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from memspy.model import Frame, ThreadStack, TraceEvent


@dataclass
class ThreadTrace:
    thread_id: int
    name: str | None
    stack: list[Frame] = field(default_factory=list)  # root first
    since: float = 0.0  # when ``stack`` last changed

    def as_thread_stack(self, frames: tuple[Frame, ...]) -> ThreadStack:
        """The model's view of this thread holding ``frames`` (root first), as a sampler
        would have seen it: running Python code, so not idle."""
        return ThreadStack(
            thread_id=self.thread_id,
            native_tid=None,
            name=self.name,
            holds_gil=True,
            idle=False,
            frames=tuple(reversed(frames)),
        )


@dataclass(frozen=True)
class Transition:
    """One change of a thread's stack at ``time``: ``before`` was held for ``elapsed``
    seconds, then ``closed`` frames returned (innermost first) and ``opened`` was entered."""

    thread: ThreadTrace
    time: float
    before: tuple[Frame, ...]
    elapsed: float
    closed: tuple[Frame, ...]
    opened: Frame | None


def _same_function(a: Frame, b: Frame) -> bool:
    # A return is reported at the returning line, an entry at the first line.
    return a.name == b.name and a.filename == b.filename


class EventReplay:
    def __init__(self) -> None:
        self.threads: dict[int, ThreadTrace] = {}
        self.first_time: float | None = None
        self.last_time: float | None = None

    def apply(self, event: TraceEvent) -> Transition | None:
        """The change ``event`` makes, or None when it changes nothing (an unmatched leave)."""
        if event.kind not in ("enter", "leave"):
            raise ValueError(f"unknown trace event kind {event.kind!r}")
        if self.first_time is None:
            self.first_time = event.time
        self.last_time = event.time if self.last_time is None else max(self.last_time, event.time)
        thread = self.threads.get(event.thread_id)
        if thread is None:
            thread = self.threads[event.thread_id] = ThreadTrace(
                event.thread_id, event.thread_name, since=event.time
            )
        elif event.thread_name and not thread.name:
            thread.name = event.thread_name
        if event.kind == "enter":
            return self._change(thread, event.time, 0, event.frame)
        for depth in range(len(thread.stack) - 1, -1, -1):
            if _same_function(thread.stack[depth], event.frame):
                # Frames above the one returning lost their own leave (an exception, a
                # dropped event): they end here too.
                return self._change(thread, event.time, len(thread.stack) - depth, None)
        return None

    def finish(self) -> list[Transition]:
        """Close every open frame at the last timestamp seen."""
        if self.last_time is None:
            return []
        return [
            self._change(thread, self.last_time, len(thread.stack), None)
            for thread in self.threads.values()
            if thread.stack
        ]

    @staticmethod
    def _change(thread: ThreadTrace, time: float, pops: int, opened: Frame | None) -> Transition:
        before = tuple(thread.stack)
        closed = tuple(reversed(before[len(before) - pops :])) if pops else ()
        del thread.stack[len(before) - pops :]
        if opened is not None:
            thread.stack.append(opened)
        elapsed = max(0.0, time - thread.since)
        thread.since = max(thread.since, time)
        return Transition(thread, time, before, elapsed, closed, opened)
