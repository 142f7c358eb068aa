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
"""

from __future__ import annotations

from typing import FrozenSet, List, Optional, Sequence, Tuple

from memspy.interpreter.codes import CodeCache
from memspy.interpreter.frames.chain import FrameChain
from memspy.interpreter.thread_states import SameList, ThreadState
from memspy.memory.base import LAST
from memspy.model import Frame

Region = Tuple[int, int]
# A thread's place in the batch: its state as last read, where its bytes lie, and the
# read-ahead its walk asked for.
Slot = Tuple[ThreadState, int, int, int, List[Region]]
# Every thread with its stack (None where its walk was not recalled), and the index and
# slot of each of those.
Answer = Tuple[List[Tuple[ThreadState, Optional[List[Frame]]]], List[Tuple[int, Slot]]]


class Plan:
    """Where the threads of one batch layout lie in its read (see the module)."""

    __slots__ = ("regions", "order", "states", "same_list", "slots", "code_regions", "codes_at")

    def __init__(
        self,
        regions: List[Region],
        order: List[int],
        states: List[ThreadState],
        same_list: SameList,
        slots: List[Slot],
        code_regions: List[Region],
        codes_at: int,
    ) -> None:
        self.regions = regions  # the batch: a plan holds only for this very list
        self.order = order  # the stage of each region
        self.states = states  # the thread states the plan was made from
        self.same_list = same_list
        self.slots = slots
        self.code_regions = code_regions  # the code headers read ahead, at ``codes_at``
        self.codes_at = codes_at


class SteadySamples:
    """What a process keeps between samples for the shortcut: the plan of the last
    sample that qualified, and the sample's read-ahead as last put together."""

    def __init__(self) -> None:
        self.plan: Optional[Plan] = None
        self.answered = 0  # samples answered from their bytes (see the module)
        self.partly = 0  # samples answered but for some threads, walked from their bytes
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
    states: List[ThreadState],
    same_list: SameList,
    spans: Sequence[Tuple[int, int]],
    asked: Sequence[List[Region]],
    code_regions: List[Region],
) -> Plan:
    """The plan of a sample that read ``regions`` (in stages ``order``) and gave
    ``states``, each thread's read-ahead at ``spans`` (indexes into the read) and asked
    for as ``asked``."""
    slots = [
        (state, index, start, end, wanted)
        for index, (state, (start, end), wanted) in enumerate(
            zip(states, spans, asked), start=same_list.first_state
        )
    ]
    codes_at = len(regions) - len(code_regions)
    return Plan(regions, order, states, same_list, slots, code_regions, codes_at)


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
    if None in read or not plan_.same_list.holds(read):  # type: ignore[arg-type]
        return None
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
    return stacks, missed
