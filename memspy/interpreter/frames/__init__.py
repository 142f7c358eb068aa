"""Walking one thread's chain of frames, for the two frame models CPython has had.

``pyframe`` (2.7-3.10): heap ``PyFrameObject``s linked by ``f_back``.
``iframe`` (3.11+): ``_PyInterpreterFrame``s linked by ``previous``, most of them in the
thread's data-stack chunks, which are read whole so a deep stack costs a few reads, not
one per frame. Frames of generators and coroutines live in their objects and C-stack
entry frames on the C stack: those are read one by one.

A walk has three steps so that a sample of many threads costs few system calls:
``prefetch`` names what to read ahead for a thread (all threads are read in one batch),
``raw`` follows the chain, and ``decode`` turns it into ``Frame``s once every code object
met in the sample has been checked in one more batch. Walks are bounded (depth, cycles)
because target memory is untrusted and changes under us; the layout decides which walk a
version gets, nowhere else.
"""

from __future__ import annotations

from typing import Dict

from memspy.interpreter.frames.iframe import InterpreterFrameChain
from memspy.interpreter.frames.pyframe import PyFrameChain

FRAME_CHAINS: Dict[str, type] = {"pyframe": PyFrameChain, "iframe": InterpreterFrameChain}
