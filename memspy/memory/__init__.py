"""Readers of a target's memory. The walker sees only the ``Memory`` protocol.

May import ``binary``, ``offsets`` and the foundation (``errors``, ``model``, ``printable``).
"""

from memspy.memory.base import BufferMemory, Memory
from memspy.memory.process import ProcessMemory

__all__ = ["Memory", "BufferMemory", "ProcessMemory"]
