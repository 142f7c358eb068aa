"""The one interface every output format implements.

A collector is fed model objects only (``Sample`` from the sampler, ``TraceEvent`` from the
USDT path), so the sampling loop and the tracer share every writer.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import BinaryIO, ClassVar

from memspy.collectors.events import EventReplay, Transition
from memspy.model import ProfileInfo, Sample, ThreadStack, TraceEvent


@dataclass(frozen=True)
class StackOptions:
    """How stacks are keyed, shared by every format (py-spy's option names)."""

    threads: bool = False  # --threads: the thread as the root frame
    function: bool = False  # --function: aggregate by function, not line
    lineno: bool = True  # --nolineno sets False


DEFAULT_OPTIONS = StackOptions()


class Collector(ABC):
    """Receives samples, then writes one file.

    Memory must stay bounded on long runs: intern stacks and count them unless the format
    needs time order, and then run-length encode.
    """

    name: ClassVar[str]
    extensions: ClassVar[tuple[str, ...]]
    description: ClassVar[str] = ""

    def __init__(self, info: ProfileInfo, options: StackOptions = DEFAULT_OPTIONS) -> None:
        self.info = info
        self.options = options
        # What one unit of ``collect_weighted`` weight is: a sample, or a traced nanosecond.
        self.weight_unit = "samples"
        self.replay = EventReplay()

    @abstractmethod
    def collect(self, sample: Sample) -> None:
        """Take one sample (its threads already filtered by --idle / --gil)."""

    def collect_event(self, event: TraceEvent) -> None:
        """Take one tracer event; events must arrive in time order per thread."""
        transition = self.replay.apply(event)
        if transition is not None:
            self.on_transition(transition)

    def on_transition(self, transition: Transition) -> None:
        """By default the time a stack was held becomes its weight, so formats that keep
        only totals show durations; formats that keep time order override this."""
        self.weight_unit = "nanoseconds"
        nanoseconds = round(transition.elapsed * 1e9)
        if transition.before and nanoseconds > 0:
            self.collect_weighted(transition.thread.as_thread_stack(transition.before), nanoseconds)

    def collect_weighted(self, thread: ThreadStack, weight: int) -> None:
        """Count ``thread``'s stack ``weight`` times (in ``weight_unit``)."""
        raise NotImplementedError(f"{type(self).__name__} keeps time order, not totals")

    def export(self, stream: BinaryIO) -> None:
        """Write the whole profile to ``stream`` (opened in binary mode)."""
        for transition in self.replay.finish():
            self.on_transition(transition)
        self.write(stream)

    @property
    def overflow(self) -> int:
        """Samples whose new stack was counted as ``<other>``, the format's table of
        stacks being full (``stacks.MAX_STACKS``)."""
        table = getattr(self, "table", None)
        return table.overflow if table is not None else 0

    @abstractmethod
    def write(self, stream: BinaryIO) -> None:
        """Write the profile; traced functions still open have been closed by now."""
