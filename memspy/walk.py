"""One sample of every thread's frames, from a ``Memory`` and the walkers alone.

Kept apart from ``PythonProcess`` (which adds what only a live process has: kernel
thread ids, idleness) so that the whole walk, with its batching and caches, runs
unchanged over ``BufferMemory`` in the fuzz tests: target memory is untrusted input, and
what is fuzzed must be the code that samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

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
    """Read every thread's stack, in one system call when the program is steady.

    That call reads the thread states together with what the last sample needed next
    (data-stack chunks, frames outside them, code object headers); what it guessed wrong
    is read in one more. A thread whose bytes all equal the last sample's is not walked
    again. A thread whose frames cannot be read is left out and described in ``errors``; a
    failure of the thread list itself, or the target's exit, raises.
    """
    code_heads = codes.new_sample()
    guesses = _within_budget(chain.guesses())
    states, holder, ahead = threads.snapshot_with(code_heads + guesses)
    codes.accept(code_heads, ahead[: len(code_heads)])
    guessed: Dict[int, bytes] = {}
    for (addr, _), data in zip(guesses, ahead[len(code_heads) :]):
        if data is not None:
            guessed.setdefault(addr, data)
    chain.forget([state.addr for state in states])
    result = Walk(holder)
    # What each thread's walk needs first, mostly read already with the thread states;
    # the rest is read in one more batch for all threads.
    spans, regions = [], []
    for state in states:
        wanted = chain.wanted(state.addr, state.data)
        spans.append((len(regions), len(regions) + len(wanted)))
        regions.extend(wanted)
    prefetched = _from_guesses(memory, regions, guessed)
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


def _within_budget(regions: List[Tuple[int, int]]) -> List[Tuple[int, int]]:
    """The first of ``regions`` whose sizes add up to at most the read-ahead budget."""
    total = 0
    for index, (_, size) in enumerate(regions):
        total += size
        if total > MAX_PREFETCH_BYTES:
            return regions[:index]
    return regions


def _from_guesses(
    memory: Memory, regions: List[Tuple[int, int]], guessed: Dict[int, bytes]
) -> List[Optional[bytes]]:
    """Each region's bytes: cut from a guess read at the same address when it covers the
    region, else read now (in one batch, within the budget; None past it)."""
    out: List[Optional[bytes]] = []
    missing: List[int] = []
    for index, (addr, size) in enumerate(regions):
        data = guessed.get(addr)
        if data is not None and len(data) >= size:
            out.append(data if len(data) == size else data[:size])
        else:
            out.append(None)
            missing.append(index)
    if missing:
        wanted = _within_budget([regions[i] for i in missing])
        for index, data in zip(missing, read_regions(memory, wanted)):
            out[index] = data
    return out
