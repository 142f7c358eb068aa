"""One sample of every thread's frames, from a ``Memory`` and the walkers alone.

Kept apart from ``PythonProcess`` (which adds what only a live process has: kernel
thread ids, idleness) so that the whole walk, with its batching and caches, runs
unchanged over ``BufferMemory`` in the fuzz tests: target memory is untrusted input, and
what is fuzzed must be the code that samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from memspy.chains import within_budget
from memspy.codes import CodeCache
from memspy.errors import MemspyError, TargetExited
from memspy.frames import FrameChain
from memspy.memory.base import Memory, read_regions
from memspy.model import Frame
from memspy.threads import Threads, ThreadState

# Bytes read ahead per sample. Sizes come from the target: past this (thousands of
# threads with deep stacks, or garbage), the walks read what they need one by one.
MAX_PREFETCH_BYTES = 64 * 1024 * 1024


# Rounds in which the threads whose walk failed are read again at once, alone. A walk fails
# mostly because the stack changed while it was read (a frame freed, a generator that
# yielded); the stack is then read again microseconds later, which mostly succeeds.
MAX_RETRIES = 5


@dataclass
class Walk:
    """Stacks that could be read, innermost frame first, and why the others could not."""

    holder: Optional[int]  # address of the GIL holder's thread state
    stacks: List[Tuple[ThreadState, List[Frame]]] = field(default_factory=list)
    errors: List[str] = field(default_factory=list)  # one per thread left out
    retried: bool = False  # some thread was read again because its first walk failed


Failed = List[Tuple[ThreadState, str]]  # threads whose walk failed, and why


def walk(memory: Memory, threads: Threads, chain: FrameChain, codes: CodeCache) -> Walk:
    """Read every thread's stack, in one system call when the program is steady.

    That call reads the thread states together with what the last sample needed next
    (data-stack chunks, frames outside them, code object headers); what it guessed wrong
    is read in one more. A thread whose bytes all equal the last sample's is not walked
    again. A thread whose walk fails is read again, with the others that failed, up to
    ``MAX_RETRIES`` times; one that still fails is left out and described in ``errors``. A
    failure of the thread list itself, or the target's exit, raises.
    """
    code_heads = codes.new_sample()
    guesses, guess_spans = chain.guesses(MAX_PREFETCH_BYTES)
    states, holder, ahead = threads.snapshot_with(code_heads + guesses)
    codes.accept(code_heads, ahead[: len(code_heads)])
    chain.forget([state.addr for state in states])
    result = Walk(holder)
    guessed = ahead[len(code_heads) :]
    failed = _walk_states(memory, chain, codes, states, guesses, guess_spans, guessed, result)
    for _ in range(MAX_RETRIES):
        if not failed:
            break
        result.retried = True
        guesses, guess_spans = _guesses_of(chain, [state.addr for state, _ in failed])
        again, ahead = threads.reread([state for state, _ in failed], guesses)
        failed = _walk_states(memory, chain, codes, again, guesses, guess_spans, ahead, result)
    result.errors = [f"thread {state.thread_id}: {message}" for state, message in failed]
    if result.retried:
        order = {state.addr: index for index, state in enumerate(states)}
        result.stacks.sort(key=lambda stack: order[stack[0].addr])
    return result


def _guesses_of(
    chain: FrameChain, addrs: List[int]
) -> Tuple[List[Tuple[int, int]], Dict[int, Tuple[int, int]]]:
    """The chain's guesses for these threads only, laid out as ``FrameChain.guesses``."""
    plan, spans = chain.guesses(MAX_PREFETCH_BYTES)
    mine: List[Tuple[int, int]] = []
    my_spans: Dict[int, Tuple[int, int]] = {}
    for addr in addrs:
        start, end = spans.get(addr, (0, 0))
        my_spans[addr] = (len(mine), len(mine) + end - start)
        mine += plan[start:end]
    return mine, my_spans


def _walk_states(
    memory: Memory,
    chain: FrameChain,
    codes: CodeCache,
    states: List[ThreadState],
    guesses: List[Tuple[int, int]],
    guess_spans: Dict[int, Tuple[int, int]],
    guessed_data: List[Optional[bytes]],
    result: Walk,
) -> Failed:
    """Walk these threads, given what was read ahead with their states; add their stacks
    to ``result`` and return the threads whose walk failed."""
    failed: Failed = []
    # What each thread's walk needs first, mostly read already with the thread states:
    # a steady thread asks for exactly its guesses, taken as read; others are cut from
    # their guesses where those cover them. The rest is read in one more batch.
    prefetched: List[List[Optional[bytes]]] = []
    missing: List[Tuple[List[Optional[bytes]], int, Tuple[int, int]]] = []
    for state in states:
        wanted = chain.wanted(state.addr, state.data)
        start, end = guess_spans.get(state.addr, (0, 0))
        theirs, mine = guesses[start:end], guessed_data[start:end]
        if theirs != wanted or None in mine:
            mine = _cut(wanted, theirs, mine, missing)
        prefetched.append(mine)
    if missing:
        regions = within_budget([region for _, _, region in missing], MAX_PREFETCH_BYTES)
        for (pieces, index, _), data in zip(missing, read_regions(memory, regions)):
            pieces[index] = data
    walked = []  # (state, its prefetched regions, raw stack, frames if recalled)
    for state, ahead in zip(states, prefetched):
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
            failed.append((state, error.message))
    codes.validate([raw.codes for _, _, raw, _ in walked])
    for state, ahead, raw, recalled in walked:
        if recalled is not None and recalled[1] == codes.generation:
            result.stacks.append((state, recalled[0]))
            continue
        try:
            frames, hidden = chain.decode(raw)
        except TargetExited:
            raise
        except MemspyError as error:
            failed.append((state, error.message))
            continue
        chain.remember(state.addr, state.data, ahead, raw, frames, hidden)
        result.stacks.append((state, frames))
    return failed


def _cut(
    wanted: List[Tuple[int, int]],
    guesses: List[Tuple[int, int]],
    guessed: List[Optional[bytes]],
    missing: List[Tuple[List[Optional[bytes]], int, Tuple[int, int]]],
) -> List[Optional[bytes]]:
    """Each wanted region's bytes, cut from a guess read at the same address when it
    covers the region (a stack that shrank asks for less of its data-stack chunk than was
    read); None for the others, which are added to ``missing`` (pieces, index, region)."""
    pieces: List[Optional[bytes]] = []
    if len(guesses) == len(wanted):  # most often the same regions, some longer
        for (addr, size), (guess, _), data in zip(wanted, guesses, guessed):
            if addr != guess or data is None or len(data) < size:
                break
            pieces.append(data if len(data) == size else data[:size])
        else:
            return pieces
        pieces = []
    by_addr = {addr: data for (addr, _), data in zip(guesses, guessed) if data is not None}
    for addr, size in wanted:
        data = by_addr.get(addr)
        if data is not None and len(data) >= size:
            pieces.append(data if len(data) == size else data[:size])
        else:
            missing.append((pieces, len(pieces), (addr, size)))
            pieces.append(None)
    return pieces
