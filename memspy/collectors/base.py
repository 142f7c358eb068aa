"""The one interface every output format implements.

A collector is fed model objects only (``Sample``, or via ``collect`` stacks rebuilt from
trace events), so the sampling loop and the USDT path share every writer.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import BinaryIO, ClassVar, Tuple

from memspy.model import ProfileInfo, Sample


@dataclass(frozen=True)
class StackOptions:
    """How stacks are keyed, shared by every format (py-spy's option names)."""

    threads: bool = False  # --threads: the thread as the root frame
    function: bool = False  # --function: aggregate by function, not line
    lineno: bool = True  # --nolineno sets False


class Collector(ABC):
    """Receives samples, then writes one file.

    Memory must stay bounded on long runs: intern stacks and count them unless the format
    needs time order, and then run-length encode.
    """

    name: ClassVar[str]
    extensions: ClassVar[Tuple[str, ...]]
    description: ClassVar[str] = ""

    def __init__(self, info: ProfileInfo, options: StackOptions = StackOptions()) -> None:
        self.info = info
        self.options = options

    @abstractmethod
    def collect(self, sample: Sample) -> None:
        """Take one sample (its threads already filtered by --idle / --gil)."""

    @abstractmethod
    def export(self, stream: BinaryIO) -> None:
        """Write the whole profile to ``stream`` (opened in binary mode)."""
