"""Walking one thread's chain of frames, for the two frame models CPython has had.

``pyframe`` (2.7-3.10): heap ``PyFrameObject``s linked by ``f_back``.
``iframe`` (3.11+): ``_PyInterpreterFrame``s linked by ``previous``, most of them in the
thread's data-stack chunks, which are read whole so a deep stack costs a few reads, not
one per frame. Frames of generators and coroutines live in their objects and C-stack
entry frames on the C stack: those are read one by one.

Both walks are bounded (depth, cycles) because target memory is untrusted and changes
under us; the layout decides which walk a version gets, nowhere else.
"""

from __future__ import annotations

import struct
from typing import Dict, List, Optional, Tuple

from memspy.codes import CodeCache
from memspy.errors import RemoteReadError
from memspy.memory.base import Memory
from memspy.model import Frame
from memspy.offsets import Layout

_PTR = struct.Struct("<Q")
_I32 = struct.Struct("<i")

DEFAULT_MAX_DEPTH = 4096
MAX_CHUNK_BYTES = 64 * 1024 * 1024
MAX_CHUNKS = 4096


def truncated_frame(dropped: str) -> Frame:
    """The marker put where a stack was cut at the depth limit."""
    return Frame(f"<truncated: {dropped}>", "<memspy>", 0)


class PyFrameChain:
    """2.7-3.10: follow ``tstate->frame`` and ``f_back``; lines from ``f_lasti``."""

    def __init__(self, memory: Memory, layout: Layout, codes: CodeCache, max_depth: int) -> None:
        self.memory = memory
        self.codes = codes
        self.max_depth = max_depth
        f = layout.pyframe
        self._top_off = layout.tstate.frame
        self._back, self._code, self._lasti = f.f_back, f.f_code, f.f_lasti
        self._size = max(f.f_back, f.f_code, f.f_lasti) + 8

    def raw(self, tstate: bytes) -> Tuple[List[Tuple[int, int]], bool]:
        """(code address, f_lasti) pairs innermost first, and whether the walk was cut."""
        addr = _PTR.unpack_from(tstate, self._top_off)[0]
        out: List[Tuple[int, int]] = []
        seen = set()
        while addr:
            if len(out) >= self.max_depth:
                return out, True
            if addr in seen:
                raise RemoteReadError("cycle in the frame chain")
            seen.add(addr)
            buf = self.memory.read(addr, self._size)
            out.append(
                (_PTR.unpack_from(buf, self._code)[0], _I32.unpack_from(buf, self._lasti)[0])
            )
            addr = _PTR.unpack_from(buf, self._back)[0]
        return out, False

    def frames(self, tstate: bytes) -> List[Frame]:
        raw, cut = self.raw(tstate)
        codes = self.codes
        codes.validate(code for code, _ in raw)
        result = []
        for code_addr, lasti in raw:
            info = codes.get(code_addr)
            result.append(Frame(info.name, info.filename, codes.line(info, lasti)))
        if cut:
            result.append(truncated_frame(f"deeper than {self.max_depth} frames"))
        return result


class _Regions:
    """Buffers of target memory read in bulk, looked up by address."""

    def __init__(self) -> None:
        self.spans: List[Tuple[int, int, bytes]] = []

    def add(self, start: int, data: bytes) -> None:
        self.spans.append((start, start + len(data), data))

    def find(self, addr: int, size: int) -> Optional[Tuple[bytes, int]]:
        for start, end, data in self.spans:
            if start <= addr and addr + size <= end:
                return data, addr - start
        return None


class InterpreterFrameChain:
    """3.11+: follow ``previous`` from the thread's current frame, skipping what CPython skips.

    CPython hides "incomplete" frames: C-stack entry frames (owner >= CSTACK, 3.12+) and
    frames not yet past ``_co_firsttraceable`` (such as 3.13's ``__init__`` shim) unless a
    generator owns them. This walk applies the same rule.
    """

    def __init__(self, memory: Memory, layout: Layout, codes: CodeCache, max_depth: int) -> None:
        self.memory = memory
        self.codes = codes
        self.max_depth = max_depth
        t, f, o, ch = layout.tstate, layout.iframe, layout.owner, layout.stack_chunk
        self._cframe_off = t.cframe
        self._cframe_current = layout.cframe.current_frame
        self._current_off = t.current_frame
        self._chunk_off, self._top_off = t.datastack_chunk, t.datastack_top
        self._exec, self._prev, self._instr, self._owner = (
            f.executable,
            f.previous,
            f.instr,
            f.owner,
        )
        self._frame_size = f.sizeof
        self._generator = o.generator
        self._cstack = o.cstack
        self._chunk_prev, self._chunk_top, self._chunk_data = ch.previous, ch.top, ch.data
        self._code_adaptive = layout.code.code_adaptive

    def _current(self, tstate: bytes) -> int:
        if self._current_off is not None:
            return _PTR.unpack_from(tstate, self._current_off)[0]
        cframe = _PTR.unpack_from(tstate, self._cframe_off)[0]
        if not cframe:
            return 0
        return _PTR.unpack_from(self.memory.read(cframe + self._cframe_current, 8), 0)[0]

    def _chunks(self, tstate: bytes) -> Tuple[_Regions, int]:
        """The current chunk's used part, and the address of the chunk before it."""
        regions = _Regions()
        chunk = _PTR.unpack_from(tstate, self._chunk_off)[0]
        top = _PTR.unpack_from(tstate, self._top_off)[0]
        if not chunk or not chunk < top <= chunk + MAX_CHUNK_BYTES:
            return regions, 0
        data = self.memory.read(chunk, top - chunk)
        regions.add(chunk, data)
        return regions, _PTR.unpack_from(data, self._chunk_prev)[0]

    def _older_chunk(self, regions: _Regions, chunk: int) -> int:
        """Read the used part of an older chunk; return the one before it."""
        head = self.memory.read(chunk, self._chunk_data)
        used = self._chunk_data + 8 * _PTR.unpack_from(head, self._chunk_top)[0]
        if not self._chunk_data <= used <= MAX_CHUNK_BYTES:
            raise RemoteReadError(f"data-stack chunk at 0x{chunk:x} has impossible size")
        regions.add(chunk, self.memory.read(chunk, used))
        return _PTR.unpack_from(head, self._chunk_prev)[0]

    def raw(self, tstate: bytes) -> Tuple[List[Tuple[int, int, int]], bool]:
        """(code address, instruction address, owner) innermost first; whether it was cut."""
        addr = self._current(tstate)
        if not addr:
            return [], False
        regions, older = self._chunks(tstate)
        chunks_left = MAX_CHUNKS
        out: List[Tuple[int, int, int]] = []
        seen = set()
        size = self._frame_size
        while addr:
            if len(out) >= self.max_depth:
                return out, True
            if addr in seen:
                raise RemoteReadError("cycle in the frame chain")
            seen.add(addr)
            found = regions.find(addr, size)
            while found is None and older and chunks_left:
                older = self._older_chunk(regions, older)
                chunks_left -= 1
                found = regions.find(addr, size)
            if found is None:
                buf, off = self.memory.read(addr, size), 0
            else:
                buf, off = found
            out.append(
                (
                    _PTR.unpack_from(buf, off + self._exec)[0],
                    _PTR.unpack_from(buf, off + self._instr)[0],
                    buf[off + self._owner],
                )
            )
            addr = _PTR.unpack_from(buf, off + self._prev)[0]
        return out, False

    def frames(self, tstate: bytes) -> List[Frame]:
        raw, cut = self.raw(tstate)
        cstack = self._cstack
        visible = [r for r in raw if cstack is None or r[2] < cstack]
        codes = self.codes
        codes.validate(code for code, _, _ in visible)
        result = []
        for code_addr, instr, owner in visible:
            info = codes.get(code_addr)
            index = (instr - code_addr - self._code_adaptive) // 2
            if owner != self._generator and index < info.firsttraceable:
                continue
            result.append(Frame(info.name, info.filename, codes.line(info, index)))
        if cut:
            result.append(truncated_frame(f"deeper than {self.max_depth} frames"))
        return result


FRAME_CHAINS: Dict[str, type] = {"pyframe": PyFrameChain, "iframe": InterpreterFrameChain}
