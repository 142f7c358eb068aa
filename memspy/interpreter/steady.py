"""The sample of a program that is where it was: answered from its bytes, not walked.

A program whose threads stay in the same places (a busy loop a few frames deep, a
server whose threads wait) reads, sample after sample, the same thread list and stacks
it has shown before: the frame walks then recall walks they kept (``FrameChain.recall``)
and do little else. Yet the sample still rebuilt every thread state, cut every thread's
read-ahead out of the batch and checked it region by region, some hundred small steps,
each paid again after the sampler's sleep with cold caches.

``Plan`` takes the batch layout of a sample whose threads all found their read-ahead
in the batch, as guessed, and left the guesses as they were: where in the batch each
thread state and its read-ahead lie. While the next samples ask for the very same batch
(the same list object: every reader's guesses unchanged), a sample whose thread list holds byte
for byte (``SameList``), whose threads each recall a kept walk from exactly the bytes
read now, and whose code headers are those accepted last, is that list of recalled
walks. It is what the whole walk would return from these bytes, since a recalled walk is
a function of the bytes it was read from and of the code cache: no sample is biased by
the shortcut. A sample whose thread list and code headers hold but some of whose
threads recall no walk (a busy thread of a server, somewhere new) walks those threads
alone, from the bytes the batch read for them, with no thread list to rebuild and no
other thread to look at. Any other sample goes on to the whole walk with the bytes
already read: never read again.

A busy thread that goes somewhere new changes what its walk reads ahead, so the next
batch. The thread list and the other threads' read-ahead are as they were: the plan is
``rebased`` onto the new batch (each thread's read-ahead where it now lies) and answers
it as before, instead of a whole walk of every thread. The walk that found the thread
somewhere new asks for its read-ahead at once (``after_missed``), since a steady sample
asks no thread.

Even that check is a hundred small steps for one busy thread. So a sample answered in
full leaves an ``Echo``: the bytes it was answered from, but those no walk looked at
(the GIL holder; the read-ahead regions a ≤3.10 walk did not use, frames other threads
reuse), the thread states (compared by their link, ids and walk key: what the thread
list and the recalls look at), and the innermost frame of each thread recalled with one
that moves in place (3.11+ data-stack chunks, see ``frames.moving_top``; ≤3.10 frame
objects whose ``f_lasti`` alone changed, see ``frames.moving_frame``). The next sample
whose bytes are those, in one comparison, gets the same stacks, with each such thread's
innermost frame where it is now, as its recall would put it: what the check above would
answer, in a few steps. A sample answered but for threads then walked from its bytes
leaves one too, when those walks are now recalled from the same bytes
(``after_missed``).
"""

from __future__ import annotations

from operator import itemgetter
from typing import Callable, Dict, FrozenSet, List, Optional, Sequence, Tuple, Union

from memspy.interpreter.codes import CodeCache
from memspy.interpreter.frames.chain import FrameChain
from memspy.interpreter.frames.moving_frame import MovingFrame, MovingFrames
from memspy.interpreter.frames.moving_top import MovingTop, MovingTops
from memspy.interpreter.thread_states import SameList, ThreadState
from memspy.memory.base import LAST
from memspy.model import Frame

Region = Tuple[int, int]
# Getters of an echo's regions kept per plan, one per set of regions left out: many
# threads, each moving or not, would otherwise make one per sample for as long as the
# plan holds.
MAX_GETTERS = 8
# A thread's place in the batch: its state as last read, where its bytes lie, and the
# read-ahead its walk asked for.
Slot = Tuple[ThreadState, int, int, int, List[Region]]
# Every thread with its stack (None where its walk was not recalled), and the index and
# slot of each of those.
Answer = Tuple[List[Tuple[ThreadState, Optional[List[Frame]]]], List[Tuple[int, Slot]]]
# A thread whose walk was recalled with an innermost frame that may move (see
# ``frames.moving_top`` and ``frames.moving_frame``): its stack's index, and that frame.
Top = Union[MovingTop, MovingFrame]
Mover = Tuple[int, Top]
Moving = Union[MovingTops, MovingFrames]


class Echo:
    """A sample answered in full, for the next ones (see the module)."""

    __slots__ = (
        "fixed", "held", "states", "keys", "tops", "held_tops", "movers", "sites", "stacks",
        "generation",
    )

    def __init__(
        self,
        plan_: Plan,
        fixed: Callable[[List[Optional[bytes]]], object],
        read: List[Optional[bytes]],
        key: slice,
        tops: Callable[[List[Optional[bytes]]], Tuple[Optional[bytes], ...]],
        movers: List[Mover],
        stacks: List[Tuple[ThreadState, Optional[List[Frame]]]],
        generation: int,
    ) -> None:
        self.fixed = fixed  # the regions of a read that must be as they were
        self.held = fixed(read)  # their bytes
        # The thread states as read, and the bytes of each that its walk reads.
        self.states = plan_.states_of(read)
        self.keys = [state[key] for state in self.states]  # type: ignore[index]
        self.tops = tops  # the regions of the movers' innermost frames, and their bytes
        self.held_tops = tops(read)
        self.movers = movers
        # The call sites their recalls learn (``CallSites.learn``'s arguments).
        self.sites = [top.site for _, top in movers if top.site is not None]
        self.stacks = stacks
        self.generation = generation  # the code cache's


class Plan:
    """Where the threads of one batch layout lie in its read (see the module)."""

    __slots__ = (
        "regions", "order", "list_regions", "states", "same_list", "slots", "code_regions",
        "codes_at", "holder_at", "states_of", "echo", "_fixed",
    )

    def __init__(
        self,
        regions: List[Region],
        order: List[int],
        list_regions: List[Region],
        states: List[ThreadState],
        same_list: SameList,
        slots: List[Slot],
        code_regions: List[Region],
        codes_at: int,
        holder_at: Optional[int],
    ) -> None:
        self.regions = regions  # the batch: a plan holds only for this very list
        self.order = order  # the stage of each region
        self.list_regions = list_regions  # its first regions, the thread list's
        self.states = states  # the thread states the plan was made from
        self.same_list = same_list
        self.slots = slots
        self.code_regions = code_regions  # the code headers read ahead, at ``codes_at``
        self.codes_at = codes_at
        self.holder_at = holder_at  # where the GIL holder's bytes lie, if read
        self.states_of = regions_getter([slot[1] for slot in slots])  # the thread states
        self.echo: Optional[Echo] = None  # the last sample answered in full
        # The getter of the regions an echo holds, by the regions it leaves out.
        self._fixed: Dict[Tuple[int, ...], Callable[[List[Optional[bytes]]], object]] = {}

    def fixed(self, loose: Tuple[int, ...]) -> Callable[[List[Optional[bytes]]], object]:
        """The getter of every region of a read but those at ``loose`` (sorted)."""
        getter = self._fixed.get(loose)
        if getter is None:
            if len(self._fixed) >= MAX_GETTERS:  # which threads move changes with each sample
                self._fixed.clear()
            left_out = set(loose)
            kept = [index for index in range(len(self.regions)) if index not in left_out]
            getter = self._fixed[loose] = regions_getter(kept)
        return getter


def regions_getter(
    indexes: Sequence[int],
) -> Callable[[List[Optional[bytes]]], Tuple[Optional[bytes], ...]]:
    """The getter of a read's regions at ``indexes``, as a tuple however many."""
    if len(indexes) > 1:
        return itemgetter(*indexes)
    if indexes:
        index = indexes[0]
        return lambda read: (read[index],)
    return lambda read: ()


class SteadySamples:
    """What a process keeps between samples for the shortcut: the plan of the last
    sample that qualified, and the sample's read-ahead as last put together."""

    def __init__(self) -> None:
        self.plan: Optional[Plan] = None
        self.answered = 0  # samples answered from their bytes (see the module)
        self.partly = 0  # samples answered but for some threads, walked from their bytes
        self.echoed = 0  # samples answered by the last one's echo
        # Whether the last sample was answered: it changed no reader's guesses, so this
        # one asks for the plan's batch again, and need not work out its regions first.
        self.armed = False
        self._ahead_of: Tuple[object, ...] = (None, None, None)
        self._ahead: Tuple[List[Region], List[int]] = ([], [])

    def ahead(
        self, guesses: List[Region], stages: List[int], code_heads: List[Region]
    ) -> Tuple[List[Region], List[int]]:
        """The frames' guesses then the code headers, and the stage of each: the same
        lists (the same objects) while the guesses and headers are, so that the batch is
        too."""
        made_of = self._ahead_of
        if made_of[0] is not guesses or made_of[1] is not stages or made_of[2] is not code_heads:
            self._ahead_of = (guesses, stages, code_heads)
            self._ahead = (guesses + code_heads, stages + [LAST] * len(code_heads))
        return self._ahead


def plan(
    regions: List[Region],
    order: List[int],
    list_regions: List[Region],
    states: List[ThreadState],
    same_list: SameList,
    spans: Dict[int, Tuple[int, int]],
    code_regions: List[Region],
    holder_at: Optional[int],
) -> Plan:
    """The plan of a sample that read ``regions`` (in stages ``order``): first
    ``list_regions``, which gave ``states``, then each thread's read-ahead at ``spans``
    (by thread state, indexes past the list's regions), as its walk took it, then
    ``code_regions``."""
    own = len(list_regions)
    slots = []
    for index, state in enumerate(states, start=same_list.first_state):
        start, end = spans.get(state.addr, (0, 0))
        start, end = own + start, own + end
        slots.append((state, index, start, end, regions[start:end]))
    codes_at = len(regions) - len(code_regions)
    return Plan(
        regions, order, list_regions, states, same_list, slots, code_regions, codes_at,
        holder_at,
    )


def rebased(
    plan_: Plan,
    regions: List[Region],
    order: List[int],
    spans: Dict[int, Tuple[int, int]],
    code_regions: List[Region],
) -> Plan:
    """The plan of a batch that begins with ``plan_``'s thread list, the same regions,
    and reads other read-ahead after it (see ``plan``).

    When one thread of many goes somewhere new, its walk changes what it reads ahead,
    and so the batch; the thread list and the other threads' read-ahead are as they
    were. This plan answers such a batch as the old one answered its own (each thread
    recalled from exactly the bytes read now, at the regions read now), instead of a
    whole walk of every thread and a new list of them. The thread states lie where they
    did, so the list's check and the states are the plan's."""
    return plan(
        regions, order, plan_.list_regions, plan_.states, plan_.same_list, spans,
        code_regions, plan_.holder_at,
    )


def answer(
    plan_: Plan,
    read: List[Optional[bytes]],
    chain: FrameChain,
    codes: CodeCache,
) -> Optional[Answer]:
    """Each thread with its stack, when ``read`` (of ``plan_.regions``) is a steady
    sample (see the module), and the slots of the threads whose walks were not recalled
    (their stacks None, for the caller to walk from the bytes of ``read``); None, having
    changed nothing a whole walk relies on, when the thread list or the code headers
    changed.

    A thread's walk is recalled from exactly the bytes it was read from, at the regions
    it was read from: a closed walk of these bytes, whatever the thread's read-ahead
    would ask for now. The thread states are the plan's: the bytes that tell them apart
    are the same."""
    moving = chain.moving
    if None in read or not plan_.same_list.holds(read):  # type: ignore[arg-type]
        return None
    if moving is not None:
        moving.recalled.clear()
    generation = codes.generation
    stacks: List[Tuple[ThreadState, Optional[List[Frame]]]] = []
    walked: List[FrozenSet[int]] = []
    missed: List[Tuple[int, Slot]] = []
    recall = chain.recall
    for slot in plan_.slots:
        state, index, start, end, regions = slot
        recalled = recall(state.addr, read[index], regions, read[start:end])  # type: ignore[arg-type]
        if recalled is None or recalled[2] != generation:
            missed.append((len(stacks), slot))
            stacks.append((state, None))
            continue
        walked.append(recalled[0].codes)
        stacks.append((state, recalled[1]))
    if not codes.accept_steady(plan_.code_regions, read[plan_.codes_at :], walked):
        return None
    if not missed and moving is not None:
        plan_.echo = _echo(plan_, read, stacks, moving, chain.walk_key, generation)
    return stacks, missed


def after_missed(
    plan_: Plan,
    read: List[Optional[bytes]],
    stacks: List[Tuple[ThreadState, List[Frame]]],
    missed: List[Tuple[int, Slot]],
    chain: FrameChain,
    codes: CodeCache,
) -> None:
    """What a sample that ``answer`` answered but for ``missed`` leaves for the next,
    once those threads were walked from its bytes (a busy thread that went somewhere
    new, mostly).

    When each of those walks is now recalled from the same bytes and knows no code
    object the answer did not, ``answer`` would answer these very bytes in full, with
    these stacks: the sample leaves its echo, as such an answer does. Else the walks
    read beyond the batch, and the threads that made them ask for their read-ahead now,
    as the next whole walk would: a steady sample asks no thread, and the next batch
    would still hold where they were, to walk them from again."""
    generation = codes.generation
    walked = []
    for _, (state, index, start, end, regions) in missed:
        recalled = chain.recall(state.addr, read[index], regions, read[start:end])  # type: ignore[arg-type]
        if recalled is None or recalled[2] != generation:
            chain.wanted(state.addr, read[index])  # type: ignore[arg-type]
        else:
            walked.append(recalled[0].codes)
    moving = chain.moving
    if len(walked) == len(missed) and moving is not None and codes.steady_covers(walked):
        plan_.echo = _echo(plan_, read, stacks, moving, chain.walk_key, generation)  # type: ignore[arg-type]


def _echo(
    plan_: Plan,
    read: List[Optional[bytes]],
    stacks: List[Tuple[ThreadState, Optional[List[Frame]]]],
    moving: Moving,
    key: slice,
    generation: int,
) -> Echo:
    """The echo of a sample answered in full from ``read``, the moving frames of the
    walks it recalled in ``moving.recalled``. Left out of the bytes held: the thread
    states (compared by the bytes their walks read, ``key``), the GIL holder, the movers'
    innermost frames and the read-ahead regions their walks did not use."""
    recalled = moving.recalled
    movers: List[Mover] = []
    tops = []
    loose = {slot[1] for slot in plan_.slots}
    for at, (state, _, start, _, _) in enumerate(plan_.slots):
        top = recalled.get(state.addr)
        if top is not None:
            movers.append((at, top))
            tops.append(start + top.at)
            loose.update([start + index for index in top.unused])
    loose.update(tops)
    if plan_.holder_at is not None:
        loose.add(plan_.holder_at)
    fixed = plan_.fixed(tuple(sorted(loose)))
    return Echo(plan_, fixed, read, key, regions_getter(tops), movers, stacks, generation)


def echoed(
    plan_: Plan, read: List[Optional[bytes]], chain: FrameChain, codes: CodeCache
) -> Optional[Answer]:
    """``answer``'s answer from the plan's echo, when there is one and ``read`` is its
    sample but for what the echo leaves out (see ``_echo``); else None, the echo dropped."""
    echo, moving = plan_.echo, chain.moving
    if echo is None or moving is None:
        return None
    stacks = _echoed(plan_, echo, read, moving, chain.walk_key, codes)
    if stacks is None:
        plan_.echo = None
        return None
    return stacks, []


def _echoed(
    plan_: Plan,
    echo: Echo,
    read: List[Optional[bytes]],
    moving: Moving,
    key: slice,
    codes: CodeCache,
) -> Optional[List[Tuple[ThreadState, Optional[List[Frame]]]]]:
    """The stacks of ``echo`` with each mover's innermost frame where ``read`` puts it,
    when ``read`` is the echo's sample but for those frames, the GIL holder, what its
    walks did not use and what its thread states hold beyond the thread list and their
    walk keys; else None, having changed nothing.

    What is held is what the last answer checked, thread list, code headers and walks'
    bytes, with the code cache as that answer left it; a mover's frame is checked as its
    recall checks it. The answer is then that of ``answer``, which would recall each
    thread from these very bytes."""
    if echo.generation != codes.generation or echo.fixed(read) != echo.held:
        return None
    states = plan_.states_of(read)
    if states != echo.states:
        same_ids = plan_.same_list.same_ids
        for now, held, walk_key in zip(states, echo.states, echo.keys):
            if now != held and (
                now is None or now[key] != walk_key or not same_ids(now, held)  # type: ignore[arg-type]
            ):
                return None
    stacks = echo.stacks
    now = echo.tops(read)
    if now != echo.held_tops:
        stacks = list(stacks)
        moved_to = moving.moved
        for (at, top), data, held in zip(echo.movers, now, echo.held_tops):
            if data != held:
                moved = moved_to(top, data)  # type: ignore[arg-type]
                if moved is None:
                    return None
                stacks[at] = (stacks[at][0], moved[1])
        if codes.generation != echo.generation:  # a new position's decoding filled the cache
            return None
    learn = moving.call_sites.learn  # as each recall would have
    for site in echo.sites:
        learn(*site)
    return stacks
