"""A Python process seen from outside: attach once, then take samples.

This is where the pieces meet: the binary tells where the interpreter is and which
version it runs, the layout says how its structs look, and the readers below walk them.
"""

from __future__ import annotations

import functools
import struct
import time
from typing import Dict, List, Optional

from memspy.binary import PythonImage, find_python, find_python_in_core
from memspy.errors import MemspyError, NotAPythonProcess, RemoteReadError, TargetExited
from memspy.interpreter import debugoffsets
from memspy.interpreter.codes import CodeCache
from memspy.interpreter.frames import FRAME_CHAINS
from memspy.interpreter.frames.chain import DEFAULT_MAX_DEPTH
from memspy.interpreter.objects.strings import RemoteObjects
from memspy.interpreter.objects.variables import FrameVariables, Variable, read_variables
from memspy.interpreter.steady import SteadySamples
from memspy.interpreter.thread_facts import ThreadFacts
from memspy.interpreter.thread_names import ThreadNames
from memspy.interpreter.thread_states import Threads
from memspy.interpreter.walk import walk
from memspy.kernel.os_threads import CoreTasks, Tasks
from memspy.memory.base import Memory
from memspy.memory.core import CoreMemory
from memspy.memory.process import ProcessMemory
from memspy.model import Frame, Sample, ThreadStack
from memspy.offsets import Layout, load_layout

INIT_TIMEOUT = 3.0  # seconds a just-started interpreter is given to initialise
_DECODING_ERRORS = (struct.error, IndexError, ValueError, OverflowError, UnicodeError)

# A ThreadStack (a Sample) from its fields: a tuple built in C, where the named tuple's
# own constructor is a Python call (one per thread per sample).
_new_stack = functools.partial(tuple.__new__, ThreadStack)
_new_sample = functools.partial(tuple.__new__, Sample)

# Where a thread parks when it waits: used only when the kernel cannot tell (no tid known).
_WAITING = {("wait", "threading.py"), ("select", "selectors.py"), ("poll", "selectors.py")}


class PythonProcess:
    """Attached to one CPython process; ``sample()`` reads every thread's stack."""

    def __init__(
        self, pid: int, max_depth: int = DEFAULT_MAX_DEPTH, init_timeout: float = INIT_TIMEOUT
    ) -> None:
        memory = ProcessMemory(pid)
        image = find_python(pid, memory)
        self._attach(pid, memory, image, Tasks(pid, memory), max_depth, f"process {pid}")
        self._wait_for_init(init_timeout)

    @classmethod
    def from_core(cls, core: CoreMemory, max_depth: int = DEFAULT_MAX_DEPTH) -> PythonProcess:
        """The process a core file was written from, read as it was at that instant."""
        process = cls.__new__(cls)
        running = {thread.tid: thread.running for thread in core.threads}
        tasks = CoreTasks(core.pid, core, running)
        image = find_python_in_core(core)
        process._attach(core.pid, core, image, tasks, max_depth, core.described)
        try:
            process._wait_for_init(0)  # a core's interpreter will never be further along
        except NotAPythonProcess:
            raise NotAPythonProcess(
                f"the Python interpreter in core file {core.path} has no threads",
                "the core was written while the interpreter was starting or finalising",
            ) from None
        return process

    def _attach(
        self, pid: int, memory: Memory, image: PythonImage, tasks: Tasks, max_depth: int,
        what: str,
    ) -> None:
        self.pid = pid
        self.memory = memory
        self.image = image
        self._what = what  # the target, as errors name it
        version = self.image.version
        micro = version.micro if version.how != "file name" else None
        self.layout: Layout = load_layout(version.major, version.minor, micro)
        runtime = self.image.address("_PyRuntime")
        if runtime is not None:
            debugoffsets.check(self.memory, runtime, self.layout)
        self.objects = RemoteObjects(self.memory, self.layout, self.image.addresses)
        self.codes = CodeCache(
            self.memory, self.layout, self.objects, self.image.address("PyCode_Type")
        )
        self.chain = FRAME_CHAINS[self.layout.features.frame_model](
            self.memory, self.layout, self.codes, max_depth
        )
        self.threads = Threads(
            self.memory,
            self.layout,
            self._head_address(),
            self.image.address(self.layout.symbols.tstate_current),
        )
        self.steady = SteadySamples()
        names = ThreadNames(self.memory, self.layout, self.objects, self.image.addresses)
        self.facts = ThreadFacts(tasks, names)
        self.quality: List[int] = [0, 0, 0]  # the last sample's stacks: exact, repaired, unknown
        self.retaken = 0  # the last sample's reads made again, held up (ProcessMemory)

    @property
    def version(self) -> str:
        return self.image.version.text

    @property
    def relisted(self) -> int:
        """How often the last sample read the thread list again (a thread ended while it
        was read)."""
        return self.threads.rereads

    def _head_address(self) -> int:
        """Address of the pointer to the first interpreter."""
        layout = self.layout
        if layout.features.head_model == "runtime":
            runtime = self.image.address("_PyRuntime")
            if runtime is not None:
                return runtime + layout.runtime.interpreters_head
        else:
            head = self.image.address(layout.symbols.head)
            if head is not None:
                return head
        raise NotAPythonProcess(
            f"{self.image.path} has no {layout.symbols.head} symbol",
            "stripped builds of Python 2.7 and 3.6 are not supported; install the debug symbols",
        )

    def _wait_for_init(self, timeout: float) -> None:
        """A process that has only just started has no interpreter yet: give it a moment."""
        deadline = time.monotonic() + timeout
        while True:
            failure: Optional[MemspyError] = None
            try:
                states, _ = self.threads.snapshot()
                if states:
                    return
            except TargetExited:
                raise
            except MemspyError as error:
                failure = error
            if time.monotonic() >= deadline:
                if failure is not None:  # a list that is there but cannot be read
                    raise RemoteReadError(
                        f"cannot read the thread list of {self._what}: {failure.message}"
                    )
                raise NotAPythonProcess(
                    f"the Python interpreter in {self._what} "
                    f"did not initialise within {timeout:g}s",
                    "is it still starting, or finalising?",
                )
            time.sleep(0.02)

    def sample(self, idle_states: bool = True) -> Sample:
        """Every thread's stack now, and in ``self.quality`` how they were read; a
        failure of the thread list itself raises.

        Without ``idle_states`` the kernel is not asked which threads run (one read of
        /proc per thread, the largest cost of sampling many threads) and ``idle`` is only
        guessed from the innermost frame: for callers that keep idle threads anyway."""
        memory = self.memory
        retakes = memory.retakes
        try:
            walked = walk(memory, self.threads, self.chain, self.codes, self.steady)
        except _DECODING_ERRORS as error:
            # The decoders are fuzzed to raise only our errors; should one still slip
            # through on memory no test imagined, it costs a sample, not the run.
            message = f"malformed target memory ({type(error).__name__}: {error})"
            raise RemoteReadError(message) from None
        self.quality = walked.quality
        self.retaken = memory.retakes - retakes
        native, names, running = self.facts.learn(walked.states, idle_states)
        holder = walked.holder
        stacks = []
        for state, frames in walked.stacks:
            thread_id = state.thread_id
            runs = running.get(thread_id)
            if runs is not None:
                idle = not runs
            else:  # guessed from where the innermost frame waits
                idle = _waits(frames[0]) if frames else True
            stacks.append(
                _new_stack(  # thread id, kernel id, name, GIL, idle, frames
                    (
                        thread_id,
                        state.native_tid or native.get(thread_id),
                        names.get(thread_id),
                        state.addr == holder,
                        idle,
                        tuple(frames),
                    ),
                )
            )
        return _new_sample((time.monotonic(), self.pid, tuple(stacks)))

    def variables(self, sample: Sample) -> Dict[int, List[Optional[List[Variable]]]]:
        """The variables of every frame of ``sample`` (a list per frame, None where they
        cannot be read), by thread id: for a sample taken while the target is paused,
        whose thread states are read again to follow each chain frame by frame."""
        reader = FrameVariables(self.memory, self.layout, self.codes, self.objects)
        states, _ = self.threads.snapshot()
        tstates = {state.thread_id: state.data for state in states}
        return {
            thread.thread_id: read_variables(reader, tstates[thread.thread_id], thread.frames)
            for thread in sample.threads
            if thread.thread_id in tstates
        }

    def close(self) -> None:
        self.facts.close()

    def __enter__(self) -> PythonProcess:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


@functools.lru_cache(maxsize=4096)
def _waits(top: Frame) -> bool:
    """Cached: the same few frames come back sample after sample, for every thread."""
    return (top.name.rsplit(".", 1)[-1], top.filename.rsplit("/", 1)[-1]) in _WAITING
