"""The base of formats that need only how often each stack was seen, not when."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from memspy.collectors.base import DEFAULT_OPTIONS, Collector, StackOptions
from memspy.collectors.stacks import FrameKey, StackId, StackTable
from memspy.model import ProfileInfo, Sample, ThreadStack


class CountingCollector(Collector):
    def __init__(self, info: ProfileInfo, options: StackOptions = DEFAULT_OPTIONS) -> None:
        super().__init__(info, options)
        self.table = StackTable(options)
        self.weights: defaultdict[StackId, int] = defaultdict(int)

    def collect(self, sample: Sample) -> None:
        weights, stack_id = self.weights, self.table.stack_id
        for thread in sample.threads:
            if thread.frames:
                weights[stack_id(thread)] += 1

    def collect_weighted(self, thread: ThreadStack, weight: int) -> None:
        if thread.frames:
            self.weights[self.table.stack_id(thread)] += weight

    @property
    def total(self) -> int:
        return sum(self.weights.values())

    def weighted_stacks(self) -> Iterator[tuple[tuple[FrameKey, ...], int]]:
        """Each distinct stack (root first) with its weight, in first-seen order."""
        for stack, weight in sorted(self.weights.items()):
            yield self.table.keys(stack), weight
