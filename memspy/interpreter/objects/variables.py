"""The arguments and local variables of each frame of a stopped target (``dump --locals``).

Read only while the target is paused: values change as it runs, and a dump shows one
moment. The frames are the sample's own: each thread's frame chain is followed again
from its thread state to learn the address of each frame, and matched to the sample's
frames by code (frames the sample leaves out, such as C-stack entry frames, are skipped
by that match, so no rule of which frames count is repeated here).

Where a frame keeps its variables is data: the slots follow the frame header
(``f_localsplus`` ≤3.10, ``localsplus`` 3.11+), named by ``co_varnames``, ``co_cellvars``
and ``co_freevars`` in turn (≤3.10) or by ``co_localsplusnames`` with a kind byte each
(3.11+). A cell or free variable's slot holds a cell; its value is the cell's contents.
"""

from __future__ import annotations

import struct
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

from memspy.errors import MemspyError, RemoteReadError, TargetExited
from memspy.interpreter.codes import CodeCache
from memspy.interpreter.objects.strings import RemoteObjects
from memspy.interpreter.objects.values import Unreadable, Values
from memspy.memory.base import Memory
from memspy.model import Frame
from memspy.offsets import Layout

MAX_SLOTS = 4096  # variables of one frame beyond this are not real
MAX_CHAIN = 100_000  # frames followed per thread before the chain is taken as a cycle

_PTR = struct.Struct("<Q")
_I32 = struct.Struct("<i")
_I64 = struct.Struct("<q")


class Variable(NamedTuple):
    """One argument or local variable; ``value`` None and ``addr`` 0 when it is unset
    (not yet bound, or deleted)."""

    name: str
    is_arg: bool
    value: Optional[str]
    addr: int = 0  # of the object it names


class FrameVariables:
    """Reads the variables of the frames of one interpreter version."""

    def __init__(
        self, memory: Memory, layout: Layout, codes: CodeCache, objects: RemoteObjects
    ) -> None:
        self.memory = memory
        self.layout = layout
        self.codes = codes
        self.objects = objects
        self.values = Values(memory, layout, objects)
        self._cell_type: Optional[int] = None
        self._named: Dict[int, Tuple[List[str], List[int], int]] = {}  # code -> its names
        t, c = layout.tstate, layout.code
        if layout.features.frame_model == "pyframe":
            self._back, self._code = layout.pyframe.f_back, layout.pyframe.f_code
            self._slots = layout.pyframe.f_localsplus
        else:
            self._back, self._code = layout.iframe.previous, layout.iframe.executable
            self._slots = layout.iframe.localsplus
        self._frame_pointer = t.frame if t.frame is not None else t.current_frame
        self._counts = [c.argcount, c.kwonlyargcount, c.flags]  # ints; None where absent
        self._names = (
            [c.varnames, c.cellvars, c.freevars] if c.varnames is not None else [c.localsplusnames]
        )

    def frames(self, tstate: bytes) -> List[Tuple[int, int]]:
        """(frame address, code address) of a thread's chain, innermost first, every
        frame the chain links, counted or not."""
        if self._frame_pointer is not None:
            addr = _PTR.unpack_from(tstate, self._frame_pointer)[0]
        else:  # 3.11/3.12: through the cframe
            cframe = _PTR.unpack_from(tstate, self.layout.tstate.cframe)[0]
            addr = self._pointer(cframe + self.layout.cframe.current_frame)
        out: List[Tuple[int, int]] = []
        seen = set()
        while addr and addr not in seen and len(out) < MAX_CHAIN:
            seen.add(addr)
            size = max(self._back, self._code) + 8
            data = self.memory.read(addr, size)
            out.append((addr, _PTR.unpack_from(data, self._code)[0]))
            addr = _PTR.unpack_from(data, self._back)[0]
        return out

    def match(
        self, frames: Sequence[Frame], chain: Sequence[Tuple[int, int]]
    ) -> List[Optional[Tuple[int, int]]]:
        """For each of a sample's frames, its (frame, code) in ``chain``, skipping the
        chain's frames the sample left out; None past where they stop agreeing."""
        out: List[Optional[Tuple[int, int]]] = []
        links = iter(chain)
        for frame in frames:
            for link in links:
                info = self.codes.peek(link[1])
                if info is not None and (info.name, info.filename) == frame[:2]:
                    out.append(link)
                    break
            else:
                out.append(None)
        return out

    def of(self, frame: int, code: int) -> List[Variable]:
        """The frame's arguments, then its other variables, in the order its code names
        them; one that cannot be read is shown as unreadable."""
        names, kinds, args = self._code_names(code)
        raw = self.memory.read(frame + self._slots, 8 * len(names)) if names else b""
        k = self.layout.fastkinds
        celled = (k.cell or 0) | (k.free or 0) | _CELL
        out = []
        for index, name in enumerate(names):
            value = _PTR.unpack_from(raw, 8 * index)[0]
            kind = kinds[index]
            if k.hidden is not None and kind & k.hidden and not value:
                continue  # a comprehension's variable, outside it
            if value and kind & celled:
                value = self._cell_contents(value)
            out.append(Variable(name, index < args, self._text(value), value))
        return _merged_cells(out, args)

    def _code_names(self, code: int) -> Tuple[List[str], List[int], int]:
        """The names of a code's slots, a kind per slot, and how many are arguments (read
        once per code object: a deep recursion has one code for a thousand frames)."""
        known = self._named.get(code)
        if known is None:
            known = self._named[code] = self._read_code_names(code)
        return known

    def _read_code_names(self, code: int) -> Tuple[List[str], List[int], int]:
        c = self.layout.code
        head = self.memory.read(
            code, max(off for off in [*self._counts, *self._names] if off is not None) + 8
        )
        argcount, kwonly, flags = (
            _I32.unpack_from(head, off)[0] if off is not None else 0 for off in self._counts
        )
        f = self.layout.coflags
        args = argcount + kwonly + bool(flags & f.varargs) + bool(flags & f.varkeywords)
        tuples = [self._names_tuple(_PTR.unpack_from(head, off)[0]) for off in self._names]
        names = [name for group in tuples for name in group]
        if c.localspluskinds is not None:
            kinds_addr = _PTR.unpack_from(self.memory.read(code + c.localspluskinds, 8), 0)[0]
            kinds = list(self.objects.bytes(kinds_addr))
        else:  # ≤3.10: locals, then cells, then free variables
            kinds = [0] * len(tuples[0]) + [_CELL] * (len(tuples[1]) + len(tuples[2]))
        if len(kinds) != len(names) or not 0 <= args <= len(names):
            raise RemoteReadError(f"code object at 0x{code:x} names its variables inconsistently")
        return names, kinds, args

    def _names_tuple(self, addr: int) -> List[str]:
        size = _I64.unpack_from(self.memory.read(addr + self.layout.varobject.size, 8), 0)[0]
        if not 0 <= size <= MAX_SLOTS:
            raise RemoteReadError(f"tuple at 0x{addr:x} has impossible size {size}")
        raw = self.memory.read(addr + self.layout.tuple.item, 8 * size) if size else b""
        return [self.objects.string(_PTR.unpack_from(raw, 8 * i)[0]) for i in range(size)]

    def _cell_contents(self, cell: int) -> int:
        """What a cell holds (0 if empty); an object that is not a cell as it is (3.11+
        before the frame made its cells: the slot holds the value itself)."""
        head = self.memory.read(cell, self.layout.cell.ref + 8)
        type_addr = _PTR.unpack_from(head, self.layout.object.type)[0]
        if self._cell_type is None and self.values.type_of(type_addr) == ("cell", True):
            self._cell_type = type_addr
        if type_addr != self._cell_type:
            return cell
        return _PTR.unpack_from(head, self.layout.cell.ref)[0]

    def _text(self, value: int) -> Optional[str]:
        if not value:
            return None
        return self.values.describe(value)

    def _pointer(self, addr: int) -> int:
        return _PTR.unpack_from(self.memory.read(addr, 8), 0)[0]


_CELL = 1 << 16  # a ≤3.10 cell or free variable's slot (3.11+ says so in its kind byte)


def _merged_cells(variables: List[Variable], args: int) -> List[Variable]:
    """≤3.10 moves an argument that a closure captures into a cell, leaving its own slot
    empty: the argument is shown with the cell's value, once."""
    by_name: Dict[str, int] = {}
    out: List[Variable] = []
    for variable in variables:
        first = by_name.get(variable.name)
        if first is not None and out[first].is_arg:
            if out[first].value is None:
                out[first] = out[first]._replace(value=variable.value, addr=variable.addr)
            continue
        by_name[variable.name] = len(out)
        out.append(variable)
    return out


def read_variables(
    variables: FrameVariables, tstate: bytes, frames: Sequence[Frame]
) -> List[Optional[List[Variable]]]:
    """The variables of each of a thread's frames (None where they cannot be read)."""
    try:
        chain = variables.frames(tstate)
    except TargetExited:
        raise
    except MemspyError:
        return [None] * len(frames)
    out: List[Optional[List[Variable]]] = []
    for link in variables.match(frames, chain):
        if link is None:
            out.append(None)
            continue
        try:
            out.append(variables.of(*link))
        except TargetExited:
            raise
        except (MemspyError, struct.error, ValueError, UnicodeError):
            out.append([Variable("(variables)", False, Unreadable)])
    return out
