"""memspy: a sampling profiler that reads a running CPython's memory from outside."""

__version__ = "0.1.0"
