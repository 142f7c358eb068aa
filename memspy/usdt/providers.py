"""The USDT providers ``memspy trace`` reads Python calls from, as data.

Two sources fire a probe when a Python function starts or stops running: CPython itself,
when built ``--with-dtrace`` (provider ``python``), and the pyusdt extension on 3.12+
(provider ``pyusdt``), which fires its probes from ``sys.monitoring`` callbacks. They name
their probes and order their arguments differently; everything else in the USDT path
(the log, the parser, the collectors) is shared, so the differences live here only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Provider:
    name: str
    enter: tuple[str, ...]  # probes after which a frame is running
    leave: tuple[str, ...]  # probes after which it no longer is (returned, or suspended)
    filename_arg: int  # argument positions of each probe above
    function_arg: int
    line_arg: int
    # The probe CPython 3.11 needs traced for its entries to fire at all (issue 98894).
    line_probe: str = ""
    # Whether the line argument is where the function begins (co_firstlineno).
    line_is_start: bool = False
    # A provider with no unwind probe says nothing when a frame ends by an exception: a
    # return of a frame that is not open then means it was running before tracing began,
    # and the open frames above it ended that way. Where the provider's probes can stop
    # one at a time (3.11's entries while bpftrace detaches), such a return is dropped.
    silent_unwind: bool = False

    @property
    def probes(self) -> tuple[str, ...]:
        return self.enter + self.leave


PYTHON = Provider(
    "python",
    enter=("function__entry",),
    leave=("function__return",),
    filename_arg=0,
    function_arg=1,
    line_arg=2,
    line_probe="line",
)
# pyusdt 0.1: PY_START/PY_RESUME(function, file, co_firstlineno, offset),
# PY_RETURN/PY_YIELD(function, file, co_firstlineno, offset, repr of the value).
PYUSDT = Provider(
    "pyusdt",
    enter=("PY_START", "PY_RESUME"),
    leave=("PY_RETURN", "PY_YIELD"),
    filename_arg=1,
    function_arg=0,
    line_arg=2,
    line_is_start=True,
    silent_unwind=True,
)
# In order of preference: the interpreter's own probes cost the target far less than
# sys.monitoring callbacks.
PROVIDERS = (PYTHON, PYUSDT)
BY_NAME = {p.name: p for p in PROVIDERS}


def covered(provider: Provider, names: Sequence[tuple[str, str]]) -> bool:
    """Whether the (provider, probe) pairs of a file include all of ``provider``'s."""
    return all((provider.name, probe) in names for probe in provider.probes)
