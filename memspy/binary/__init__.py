"""Finding the interpreter inside a process: which ELF file, where it is loaded, which version.

May import ``memory``, ``offsets`` and the foundation.
"""

from memspy.binary.locate import PythonImage, find_python, find_python_in_core

__all__ = ["PythonImage", "find_python", "find_python_in_core"]
