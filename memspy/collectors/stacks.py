"""How a thread's stack becomes a key, shared by every format so they all agree.

Frames and stacks are interned (a stack is a tuple of frame ids, root first), so a long run
of a few distinct stacks costs a few table entries, not one object per sample.
"""

from __future__ import annotations

from typing import NamedTuple

from memspy.collectors.base import StackOptions
from memspy.model import Frame, ThreadStack

StackId = int

# Distinct stacks a profile keeps before it counts further new ones in one ``<other>``
# stack: a program that keeps making new functions (generated code, a new lambda per
# request) would otherwise grow memspy's memory with every sample over days.
MAX_STACKS = 200_000
OTHER = "<other stacks: more distinct stacks than memspy keeps>"


class FrameKey(NamedTuple):
    """A frame as the profile shows it: the line is None when it is not part of the key
    (``--function``, ``--nolineno``, or unknown); the file is None for the thread root."""

    name: str
    filename: str | None
    line: int | None

    def label(self) -> str:
        """py-spy's label, which flamegraph.pl, inferno and speedscope all display as is."""
        if self.filename is None:
            return self.name
        if self.line is None:
            return f"{self.name} ({self.filename})"
        return f"{self.name} ({self.filename}:{self.line})"


def thread_label(thread_id: int, native_tid: int | None, name: str | None) -> str:
    """Thread "name (tid)": the kernel's tid when known (what top and ps show), else the
    interpreter's ident in hex."""
    tid = str(native_tid) if native_tid is not None else hex(thread_id)
    return f"{name or 'thread'} ({tid})"


def label_of(thread: ThreadStack) -> str:
    return thread_label(thread.thread_id, thread.native_tid, thread.name)


class StackTable:
    """Interns frames and stacks under one ``StackOptions``."""

    def __init__(self, options: StackOptions) -> None:
        self.options = options
        self.keep_line = options.lineno and not options.function
        self.frames: list[FrameKey] = []
        self.stacks: list[tuple[int, ...]] = []
        self._frame_ids: dict[FrameKey, int] = {}
        self._stack_ids: dict[tuple[int, ...], StackId] = {}
        # The walker's frames tuple straight to frame ids: one hash per sample instead of
        # one key per frame. As many entries as distinct stacks seen with their lines.
        self._frames_ids: dict[tuple[Frame, ...], tuple[int, ...]] = {}
        # And straight to its stack id, without ``--threads`` (which adds the thread to
        # the key): one lookup per thread per sample. As bounded as ``_frames_ids``.
        self._frames_stack: dict[tuple[Frame, ...], StackId] = {}
        # Where each function (name, file) begins, 0 when unknown or ambiguous: before 3.11
        # two methods of one file can share a name (no qualified names) and a start.
        self.start_lines: dict[tuple[str, str | None], int] = {}
        self.overflow = 0  # samples of new stacks counted as OTHER, past MAX_STACKS

    def frame_key(self, frame: Frame) -> FrameKey:
        line = frame.lineno if self.keep_line and frame.lineno > 0 else None
        function = (frame.name, frame.filename)
        start = self.start_lines.setdefault(function, frame.firstlineno)
        if start != frame.firstlineno:
            self.start_lines[function] = 0
        return FrameKey(frame.name, frame.filename, line)

    def frame_id(self, key: FrameKey) -> int:
        found = self._frame_ids.get(key)
        if found is None:
            found = self._frame_ids[key] = len(self.frames)
            self.frames.append(key)
        return found

    def intern(self, frame_ids: tuple[int, ...]) -> StackId:
        found = self._stack_ids.get(frame_ids)
        if found is None:
            found = self._stack_ids[frame_ids] = len(self.stacks)
            self.stacks.append(frame_ids)
        return found

    def stack_id(self, thread: ThreadStack) -> StackId:
        """The thread's stack, root first, under the thread's root frame with ``--threads``."""
        frames = thread.frames
        found = self._frames_stack.get(frames)
        if found is None:
            found = self.intern(self.root_first(frames, thread))
            if not self.options.threads and frames in self._frames_ids:
                self._frames_stack[frames] = found
        return found

    def root_first(self, frames: tuple[Frame, ...], thread: ThreadStack) -> tuple[int, ...]:
        ids = self._frames_ids.get(frames)
        if ids is None:
            if len(self._frames_ids) >= MAX_STACKS:  # full: no new frame, no new stack
                self.overflow += 1
                return (self.frame_id(FrameKey(OTHER, "<memspy>", None)),)
            ids = tuple(self.frame_id(self.frame_key(frame)) for frame in reversed(frames))
            self._frames_ids[frames] = ids
        if self.options.threads:
            return (self.frame_id(FrameKey(label_of(thread), None, None)),) + ids
        return ids

    def keys(self, stack: StackId) -> tuple[FrameKey, ...]:
        return tuple(self.frames[i] for i in self.stacks[stack])
