"""Finding the interpreter inside a process: which ELF file, where it is loaded, which version."""

from memspy.binary.locate import PythonImage, find_python

__all__ = ["PythonImage", "find_python"]
