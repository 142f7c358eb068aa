"""A plausible CPython process built byte by byte in ``BufferMemory`` from a real layout.

Runtime (or ``interp_head``), one interpreter, two thread states, their frames (heap
frame objects up to 3.10; data-stack chunks, an older chunk, a generator's frame and a
C-stack entry frame from 3.11), code objects, strings of every kind and line tables that
give known lines. Every object is its own region with unmapped gaps between, so a wrong
pointer fails to read as it would in a real process. ``regions`` stays mutable so fuzz
tests can damage it and build a fresh ``BufferMemory``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from memspy.interpreter.codes import CodeCache
from memspy.interpreter.frames import FRAME_CHAINS
from memspy.interpreter.objects.strings import RemoteObjects
from memspy.interpreter.thread_states import Threads
from memspy.memory import BufferMemory
from memspy.offsets import Layout

BASE = 0x7F0000000000
GAP = 0x1000  # unmapped bytes between objects
SLACK = 256  # readable bytes after each object, like the rest of a heap page

# (function name, file name, line offset from firstlineno): the stacks the walk must find.
Expected = List[Tuple[str, str, int]]


@dataclass
class FakeProcess:
    layout: Layout
    regions: Dict[int, bytearray] = field(default_factory=dict)
    types: Dict[str, int] = field(default_factory=dict)
    code_type: int = 0
    head_addr: int = 0
    tstate_current: Optional[int] = None
    expected: List[Expected] = field(default_factory=list)  # per thread, innermost first
    _next: int = BASE

    # -- memory ---------------------------------------------------------------------------
    def alloc(self, size: int) -> int:
        addr = self._next
        self.regions[addr] = bytearray(size + SLACK)
        self._next += (size + SLACK + GAP + 15) & ~15
        return addr

    def put(self, addr: int, fmt: str, value: int) -> None:
        for start, data in self.regions.items():
            if start <= addr < start + len(data):
                struct.pack_into(fmt, data, addr - start, value)
                return
        raise AssertionError(f"0x{addr:x} is not in any region")

    def ptr(self, addr: int, value: int) -> None:
        self.put(addr, "<Q", value)

    def memory(self) -> BufferMemory:
        return BufferMemory({a: bytes(d) for a, d in self.regions.items()})

    def blob(self, data: bytes) -> int:
        addr = self.alloc(len(data))
        self.regions[addr][: len(data)] = data
        return addr

    # -- objects --------------------------------------------------------------------------
    def string(self, text: str, compact: bool = True) -> int:
        if self.layout.features.string_model == "bytes":
            return self._sized(self.types["PyString_Type"], self.layout.py2str, text.encode())
        u = self.layout.unicode
        top = max(map(ord, text), default=0)
        kind = 1 if top < 256 else 2 if top < 65536 else 4
        ascii_ = top < 128
        data = text.encode({1: "latin-1", 2: "utf-16-le", 4: "utf-32-le"}[kind])
        header = u.ascii_sizeof if ascii_ and compact else u.compact_sizeof
        size = header + (len(data) + kind if compact else 8)
        addr = self.alloc(size)
        self.ptr(addr + self.layout.object.type, self.types["PyUnicode_Type"])
        self.put(addr + u.length, "<q", len(text))
        state = kind << u.state_kind_shift | int(compact) << u.state_compact_shift
        state |= int(ascii_) << u.state_ascii_shift | 1 << 7  # "ready" before 3.12
        self.put(addr + u.state, "<I", state)
        if compact:
            self.regions[addr][header : header + len(data)] = data
        else:
            self.ptr(addr + u.data_any, self.blob(data + b"\0" * kind))
        return addr

    def bytes_object(self, data: bytes) -> int:
        if self.layout.features.string_model == "bytes":
            return self._sized(self.types["PyString_Type"], self.layout.py2str, data)
        return self._sized(self.types["PyBytes_Type"], self.layout.bytes, data)

    def _sized(self, type_addr: int, section, data: bytes) -> int:
        addr = self.alloc(section.sval + len(data) + 1)
        self.ptr(addr + self.layout.object.type, type_addr)
        self.put(addr + section.size, "<q", len(data))
        self.regions[addr][section.sval : section.sval + len(data)] = data
        return addr

    def code(self, name: str, filename: str, line_offset: int) -> int:
        """A code object whose line table puts positions 0-7 on firstlineno + line_offset."""
        c = self.layout.code
        addr = self.alloc(c.sizeof)
        self.ptr(addr + self.layout.object.type, self.code_type)
        name_addr = self.string(name)
        self.ptr(addr + c.name, name_addr)
        if c.qualname is not None:
            self.ptr(addr + c.qualname, name_addr)
        self.ptr(addr + c.filename, self.string(filename, compact=len(filename) % 2 == 0))
        self.put(addr + c.firstlineno, "<i", FIRSTLINENO)
        self.ptr(addr + c.linetable, self.bytes_object(line_table(self.layout, line_offset)))
        if c.nlocalsplus is not None:
            # Frames here take one _PyInterpreterFrame each, back to back on the data stack
            # as CPython lays them out: the specials ((sizeof - 1) / 8 words) and one more.
            specials = (self.layout.iframe.sizeof - 1) // 8
            self.put(addr + c.nlocalsplus, "<i", self.layout.iframe.sizeof // 8 - specials)
            self.put(addr + c.stacksize, "<i", 0)
        return addr


FIRSTLINENO = 100


def line_table(layout: Layout, offset: int) -> bytes:
    """A table of the layout's format mapping positions 0-7 to ``firstlineno + offset``
    and 8-15 to the line after it (``LATER``: where a caller goes on to)."""
    kind = layout.features.linetable
    if kind in ("lnotab", "lnotab_unsigned"):
        return bytes([0, offset, 8, 1])
    if kind == "linetable310":
        return bytes([16, offset, 16, 1])
    # Two 8-unit entries in the "line delta" form.
    return bytes([0x80 | 13 << 3 | 7, offset << 1, 0x80 | 13 << 3 | 7, 1 << 1])


LATER = 11  # a position on the line after the one frames are built at


# Names with every string kind and escape sequences (names are data, never code).
FUNCTIONS = [
    ("main", "app.py"),
    ("λ_kind2_Ω", "/srv/ünï.py"),
    ("emoji_\U0001f600", "/tmp/x.py"),
    ("evil\x1b]0;pwned\x07", "\x1b[31mred.py"),
    ("deep", "lib/mod.py"),
]


def build(layout: Layout) -> FakeProcess:
    """Two threads running FUNCTIONS 0, 1, 2 and 3, 4, 0 (outermost first)."""
    p = FakeProcess(layout)
    for name in ("PyUnicode_Type", "PyBytes_Type", "PyString_Type"):
        p.types[name] = p.alloc(8)
    p.code_type = p.alloc(8)
    codes = [p.code(name, file, i) for i, (name, file) in enumerate(FUNCTIONS)]
    interp = _runtime(p)
    stacks = [[0, 1, 2], [3, 4, 0]]
    tstates = []
    for tid, stack in enumerate(stacks, start=1):
        tstates.append(_tstate(p, interp, tid))
        p.expected.append([(*FUNCTIONS[i], FIRSTLINENO + i) for i in reversed(stack)])
    for before, after in zip(tstates, tstates[1:]):
        p.ptr(before + layout.tstate.next, after)
    p.ptr(interp + layout.interp.tstate_head, tstates[0])
    _gil(p, interp, tstates[0])
    frames = _pyframes if layout.features.frame_model == "pyframe" else _iframes
    for tstate, stack, first in zip(tstates, stacks, (True, False)):
        frames(p, tstate, [codes[i] for i in stack], first)
    return p


def _runtime(p: FakeProcess) -> int:
    layout = p.layout
    interp_size = max(v for v in layout.interp.as_dict().values() if v is not None) + 8
    interp = p.alloc(interp_size)
    if layout.features.head_model == "runtime":
        r = layout.runtime
        size = max(v for v in (r.interpreters_head, r.gilstate_tstate_current) if v is not None)
        runtime = p.alloc(size + 8)
        p.head_addr = runtime + r.interpreters_head
    else:
        p.head_addr = p.alloc(8)
    p.ptr(p.head_addr, interp)
    return interp


def _tstate(p: FakeProcess, interp: int, tid: int) -> int:
    t = p.layout.tstate
    addr = p.alloc(t.sizeof)
    p.ptr(addr + t.interp, interp)
    p.ptr(addr + t.thread_id, 0x7000 + tid)
    if t.native_thread_id is not None:
        p.put(addr + t.native_thread_id, "<i", 4000 + tid)
    return addr


def _gil(p: FakeProcess, interp: int, holder: int) -> None:
    layout, model = p.layout, p.layout.features.gil_model
    if model == "tstate_current":
        p.tstate_current = p.alloc(8)
        p.ptr(p.tstate_current, holder)
    elif model == "runtime_gilstate":
        runtime = p.head_addr - layout.runtime.interpreters_head
        p.ptr(runtime + layout.runtime.gilstate_tstate_current, holder)
    else:
        g = layout.gil
        gil = p.alloc(max(g.locked, g.last_holder) + 8)
        p.ptr(interp + layout.interp.ceval_gil, gil)
        p.put(gil + g.locked, "<i", 1)
        p.ptr(gil + g.last_holder, holder)


def _pyframes(p: FakeProcess, tstate: int, codes: List[int], first: bool) -> None:
    f = p.layout.pyframe
    back = 0
    for code in codes:  # outermost first
        frame = p.alloc(f.sizeof)
        p.put(frame + p.layout.object.refcnt, "<q", 1)  # running: referenced
        p.ptr(frame + f.f_back, back)
        p.ptr(frame + f.f_code, code)
        p.put(frame + f.f_lasti, "<i", 3)
        back = frame
    p.ptr(tstate + p.layout.tstate.frame, back)


def _iframes(p: FakeProcess, tstate: int, codes: List[int], first: bool) -> None:
    """Thread 1: all frames in one chunk, plus a C-stack entry frame where 3.12+ has one.
    Thread 2: one frame in an older chunk, one in the current, the innermost in a generator."""
    layout = p.layout
    f, ch, o, t = layout.iframe, layout.stack_chunk, layout.owner, layout.tstate
    slots = f.sizeof // 8

    def chunk(previous: int, frames: int) -> int:
        addr = p.alloc(ch.data + f.sizeof * frames)
        p.ptr(addr + ch.previous, previous)
        p.put(addr + ch.size, "<Q", ch.data + f.sizeof * frames)
        p.put(addr + ch.top, "<Q", slots * frames)
        return addr

    def frame(addr: int, code: int, previous: int, owner: int) -> None:
        p.ptr(addr + f.executable, code)
        p.ptr(addr + f.previous, previous)
        p.ptr(addr + f.instr, code + layout.code.code_adaptive + 2 * 3)
        p.put(addr + f.owner, "<B", owner)

    if first:
        entries = [(c, o.thread) for c in codes]
        if o.cstack is not None:
            entries.insert(1, (codes[0], o.cstack))  # hidden, as CPython hides it
        current = chunk(0, len(entries))
        placed = [current + ch.data + f.sizeof * i for i in range(len(entries))]
        used = len(entries)
    else:
        older = chunk(0, 1)
        current = chunk(older, 1)
        entries = [(codes[0], o.thread), (codes[1], o.thread), (codes[2], o.generator)]
        placed = [older + ch.data, current + ch.data, p.alloc(f.sizeof)]
        used = 1
    previous = 0
    for addr, (code, owner) in zip(placed, entries):
        frame(addr, code, previous, owner)
        previous = addr
    p.ptr(tstate + t.datastack_chunk, current)
    p.ptr(tstate + t.datastack_top, current + ch.data + f.sizeof * used)
    if t.current_frame is not None:
        p.ptr(tstate + t.current_frame, previous)
    else:
        cframe = p.alloc(8 + layout.cframe.current_frame)
        p.ptr(cframe + layout.cframe.current_frame, previous)
        p.ptr(tstate + t.cframe, cframe)


def walkers(p: FakeProcess, memory: BufferMemory, max_depth: int = 64):
    """The same objects PythonProcess builds, over ``memory``."""
    objects = RemoteObjects(memory, p.layout, p.types)
    codes = CodeCache(memory, p.layout, objects, p.code_type)
    chain = FRAME_CHAINS[p.layout.features.frame_model](memory, p.layout, codes, max_depth)
    threads = Threads(memory, p.layout, p.head_addr, p.tstate_current)
    return threads, chain, codes
