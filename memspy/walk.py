"""One sample of every thread's frames, from a ``Memory`` and the walkers alone.

Kept apart from ``PythonProcess`` (which adds what only a live process has: kernel
thread ids, idleness) so that the whole walk, with its batching and caches, runs
unchanged over ``BufferMemory`` in the fuzz tests: target memory is untrusted input, and
what is fuzzed must be the code that samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from memspy.codes import CodeCache
from memspy.errors import MemspyError, TargetExited
from memspy.frames import FrameChain
from memspy.memory.base import Memory, read_regions
from memspy.model import Frame
from memspy.threads import Threads, ThreadState

# Bytes read ahead per sample. Sizes come from the target: past this (thousands of
# threads with deep stacks, or garbage), the walks read what they need one by one.
MAX_PREFETCH_BYTES = 64 * 1024 * 1024


@dataclass
class Walk:
    """Stacks that could be read, innermost frame first, and why the others could not."""

    holder: Optional[int]  # address of the GIL holder's thread state
    stacks: List[Tuple[ThreadState, List[Frame]]] = field(default_factory=list)
    errors: List[str] = field(default_factory=list)  # one per thread left out


def walk(memory: Memory, threads: Threads, chain: FrameChain, codes: CodeCache) -> Walk:
    """Read every thread's stack in a few batched reads.

    A thread whose frames cannot be read is left out and described in ``errors``; a
    failure of the thread list itself, or the target's exit, raises.
    """
    code_heads = codes.new_sample()
    states, holder = threads.snapshot()
    chain.forget([state.addr for state in states])
    result = Walk(holder)
    # Everything each thread's walk needs first, read in one batch for all threads, with
    # the headers of the code objects the last sample met.
    spans, regions = [], list(code_heads)
    for state in states:
        wanted = chain.prefetch(state.addr, state.data)
        spans.append((len(regions), len(regions) + len(wanted)))
        regions.extend(wanted)
    prefetched = _read_within_budget(memory, regions)
    codes.accept(code_heads, prefetched[: len(code_heads)])
    walked = []  # (state, its prefetched regions, raw stack, frames if recalled)
    for state, (start, end) in zip(states, spans):
        ahead = prefetched[start:end]
        recalled = chain.recall(state.addr, state.data, ahead)
        if recalled is not None:
            raw, frames, generation = recalled
            walked.append((state, ahead, raw, (frames, generation)))
            continue
        try:
            walked.append((state, ahead, chain.raw(state.addr, state.data, ahead), None))
        except TargetExited:
            raise
        except MemspyError as error:
            result.errors.append(f"thread {state.thread_id}: {error.message}")
    codes.validate(code for _, _, raw, _ in walked for code, _, _ in raw.frames)
    for state, ahead, raw, recalled in walked:
        if recalled is not None and recalled[1] == codes.generation:
            result.stacks.append((state, recalled[0]))
            continue
        try:
            frames = chain.decode(raw)
        except TargetExited:
            raise
        except MemspyError as error:
            result.errors.append(f"thread {state.thread_id}: {error.message}")
            continue
        chain.remember(state.addr, state.data, ahead, raw, frames)
        result.stacks.append((state, frames))
    return result


def _read_within_budget(memory: Memory, regions: List[Tuple[int, int]]) -> List[Optional[bytes]]:
    """``read_regions``, but regions past the byte budget are not read (None)."""
    total, affordable = 0, len(regions)
    for index, (_, size) in enumerate(regions):
        total += size
        if total > MAX_PREFETCH_BYTES:
            affordable = index
            break
    return read_regions(memory, regions[:affordable]) + [None] * (len(regions) - affordable)
