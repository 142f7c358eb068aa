"""One sample of every thread's frames, from a ``Memory`` and the walkers alone.

Kept apart from ``PythonProcess`` (which adds what only a live process has: kernel
thread ids, idleness) so that the whole walk, with its batching and caches, runs
unchanged over ``BufferMemory`` in the fuzz tests: target memory is untrusted input, and
what is fuzzed must be the code that samples.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from memspy.errors import MemspyError, TargetExited
from memspy.interpreter.codes import CodeCache
from memspy.interpreter.frames.chain import (
    EXACT,
    PARTLY_UNKNOWN,
    UNKNOWN_FRAME,
    FrameChain,
    unknown_stack,
)
from memspy.interpreter.linked_lists import within_budget
from memspy.interpreter.steady import (
    Plan,
    Slot,
    SteadySamples,
    after_missed,
    answer,
    echoed,
    plan,
    rebased,
)
from memspy.interpreter.thread_states import Threads, ThreadState
from memspy.memory.base import Memory, read_regions
from memspy.model import Frame

# Bytes read ahead per sample. Sizes come from the target: past this (thousands of
# threads with deep stacks, or garbage), the walks read what they need one by one.
MAX_PREFETCH_BYTES = 64 * 1024 * 1024


class Walk:
    """Every thread's stack, innermost frame first, and how each was read.

    A thread is never read again later under the same sample, nor left out: a stack that
    changed while it was read is repaired from what is known or ends with an unknown
    part (see ``frames``), and ``quality`` counts which (exact, repaired, partly unknown).
    A plain class: one is made per sample, and a dataclass with default factories takes
    several times longer to build.
    """

    __slots__ = ("holder", "states", "stacks", "quality")

    def __init__(self, holder: Optional[int], states: List[ThreadState]) -> None:
        self.holder = holder  # address of the GIL holder's thread state
        self.states = states  # the thread states, in the order of ``stacks``
        self.stacks: List[Tuple[ThreadState, List[Frame]]] = []
        self.quality = [0, 0, 0]  # stacks per quality


def walk(
    memory: Memory,
    threads: Threads,
    chain: FrameChain,
    codes: CodeCache,
    steady: Optional[SteadySamples] = None,
) -> Walk:
    """Read every thread's stack, in one system call when the program is steady.

    That call reads the thread states together with what the last samples needed
    (data-stack chunks, frames, code object headers): the bytes of one instant. What it
    did not cover is read in one more batch, and what the walks meet beyond that, one by
    one. A thread whose bytes all equal the last sample's is not walked again, and a
    sample whose every thread is so is answered from its bytes (see ``steady``), with
    what ``steady`` keeps between samples; so is one whose batch changed only after the
    thread list (a thread's read-ahead), by the plan rebased onto it. A failure of the
    thread list itself, or the target's exit, raises.
    """
    steady = steady or SteadySamples()
    known = steady.plan
    if steady.armed and known is not None:
        regions, order = known.regions, known.order
        planned = None  # worked out below if the plan fails: the same regions
    else:
        planned = _read_ahead(chain, codes, steady)
        regions, order = threads.batch(*planned[3:])
    read = memory.read_some(regions, order)  # never empty: the list head is in it
    if planned is not None and known is not None and known.regions is not regions:
        if known.list_regions is threads.list_regions:  # other read-ahead, the same list
            code_heads, _, guess_spans = planned[:3]
            known = steady.plan = rebased(known, regions, order, guess_spans, code_heads)
    if known is not None and known.regions is regions:
        answered = echoed(known, read, chain, codes)
        if answered is not None:
            steady.echoed += 1
        else:
            answered = answer(known, read, chain, codes)
        if answered is not None:
            stacks, missed = answered
            threads.rereads = 0
            result = Walk(threads.holder_in(read), known.states)
            result.quality[EXACT] = len(stacks) - len(missed)
            if missed:
                _walk_missed(memory, chain, codes, known, read, stacks, missed, result)
                after_missed(known, read, stacks, missed, chain, codes)  # type: ignore[arg-type]
                steady.partly += 1
            else:
                steady.answered += 1
            # A walk may have changed what its thread's read-ahead asks for, or met code
            # objects whose headers the batch does not hold: the next sample works out
            # its regions (mostly the same list again) before it trusts the plan.
            steady.armed = not missed
            result.stacks = stacks  # type: ignore[assignment]  # no None left
            return result
    if planned is None:  # as the last answered sample left every reader
        planned = _read_ahead(chain, codes, steady)
    code_heads, guesses, guess_spans, ahead, ahead_stages = planned
    steady.plan, steady.armed = None, False
    states, holder, ahead_data = threads.snapshot_with(ahead, ahead_stages, (regions, read))
    codes.accept(code_heads, ahead_data[len(guesses) :])
    chain.forget([state.addr for state in states])
    result = Walk(holder, states)
    guessed = ahead_data[: len(guesses)]
    laid_out = _walk_states(memory, chain, codes, states, guesses, guess_spans, guessed, result)
    # A plan of this batch's layout, unless the walks changed what the next batch asks for.
    if laid_out and threads.from_batch and chain.guesses(MAX_PREFETCH_BYTES)[0] is guesses:
        regions, order, _ = threads.last_read
        steady.plan = plan(
            regions, order, threads.list_regions, states, threads.same_list(states),
            guess_spans, code_heads, threads.holder_at,
        )
    return result


def _walk_missed(
    memory: Memory,
    chain: FrameChain,
    codes: CodeCache,
    known: Plan,
    read: List[Optional[bytes]],
    stacks: List[Tuple[ThreadState, Optional[List[Frame]]]],
    missed: List[Tuple[int, Slot]],
    result: Walk,
) -> None:
    """Walk the threads of a steady sample whose walks were not recalled, from the bytes
    the sample read (their thread states as read now, their read-ahead where the plan
    put it); put their stacks in ``stacks`` and count how each was read in ``result``.
    The steady program's other threads, recalled, cost no thread list and no walk."""
    states = [state._replace(data=read[index]) for _, (state, index, _, _, _) in missed]
    spans = {state.addr: (start, end) for _, (state, _, start, end, _) in missed}
    walked = Walk(result.holder, states)
    _walk_states(memory, chain, codes, states, known.regions, spans, read, walked)
    for (at, _), (_, frames) in zip(missed, walked.stacks):
        stacks[at] = (stacks[at][0], frames)
    for kind, count in enumerate(walked.quality):
        result.quality[kind] += count


def _read_ahead(
    chain: FrameChain, codes: CodeCache, steady: SteadySamples
) -> Tuple[
    List[Tuple[int, int]],
    List[Tuple[int, int]],
    Dict[int, Tuple[int, int]],
    List[Tuple[int, int]],
    List[int],
]:
    """What the sample reads after the thread list, as the readers guess it now: (the code
    headers, the frames' guesses, where each thread's lie among them, both together, and
    the stage of each)."""
    code_heads = codes.new_sample()
    guesses, guess_spans, stages = chain.guesses(MAX_PREFETCH_BYTES)
    ahead, ahead_stages = steady.ahead(guesses, stages, code_heads)
    return code_heads, guesses, guess_spans, ahead, ahead_stages


def _walk_states(
    memory: Memory,
    chain: FrameChain,
    codes: CodeCache,
    states: List[ThreadState],
    guesses: List[Tuple[int, int]],
    guess_spans: Dict[int, Tuple[int, int]],
    guessed_data: List[Optional[bytes]],
    result: Walk,
) -> bool:
    """Walk these threads, given what was read ahead with their states; add their stacks
    to ``result``. Returns whether every one asked for its read-ahead as guessed and
    took it as read (the batch's layout held, see ``steady``)."""
    # What each thread's walk needs first, mostly read already with the thread states:
    # a steady thread asks for exactly its guesses, taken as read; others are cut from
    # their guesses where those cover them. The rest is read in one more batch.
    prefetched: List[List[Optional[bytes]]] = []
    asked: List[List[Tuple[int, int]]] = []
    missing: List[Tuple[List[Optional[bytes]], int, Tuple[int, int]]] = []
    laid_out = True
    for state in states:
        wanted = chain.wanted(state.addr, state.data)
        start, end = guess_spans.get(state.addr, (0, 0))
        theirs, mine = guesses[start:end], guessed_data[start:end]
        if theirs != wanted or None in mine:
            mine = _cut(wanted, theirs, mine, missing)
            laid_out = False
        prefetched.append(mine)
        asked.append(wanted)
    if missing:
        regions = within_budget([region for _, _, region in missing], MAX_PREFETCH_BYTES)
        for (pieces, index, _), data in zip(missing, read_regions(memory, regions)):
            pieces[index] = data
    walked = []  # (state, regions, their bytes, raw stack, frames if recalled)
    for state, regions, ahead in zip(states, asked, prefetched):
        recalled = chain.recall(state.addr, state.data, regions, ahead)
        if recalled is not None:
            raw, frames, generation = recalled
            walked.append((state, regions, ahead, raw, (frames, generation)))
            continue
        try:
            raw = chain.raw(state.addr, state.data, ahead)
        except TargetExited:
            raise
        except MemspyError:
            raw = unknown_stack([])  # not even its first frame could be read
        walked.append((state, regions, ahead, raw, None))
    codes.validate([raw.codes for _, _, _, raw, _ in walked])
    quality = result.quality
    for state, regions, ahead, raw, recalled in walked:
        if recalled is not None and recalled[1] == codes.generation:
            result.stacks.append((state, recalled[0]))
            quality[EXACT] += 1
            continue
        frames, hidden = chain.decode(raw)
        chain.remember(state.addr, state.data, regions, ahead, raw, frames, hidden)
        result.stacks.append((state, frames))
        quality[PARTLY_UNKNOWN if frames and frames[-1] is UNKNOWN_FRAME else raw.quality] += 1
    return laid_out


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
    # A region asked for twice (a frame pointer, and the same read again after the
    # frames) takes the guess of the same turn: each was read at its own moment.
    by_addr: Dict[int, List[Optional[bytes]]] = {}
    for (addr, _), data in zip(guesses, guessed):
        by_addr.setdefault(addr, []).append(data)
    turns: Dict[int, int] = {}
    for addr, size in wanted:
        turn = turns[addr] = turns.get(addr, -1) + 1
        same = by_addr.get(addr, ())
        data = same[turn] if turn < len(same) else None
        if data is not None and len(data) >= size:
            pieces.append(data if len(data) == size else data[:size])
        else:
            missing.append((pieces, len(pieces), (addr, size)))
            pieces.append(None)
    return pieces
