"""The target as the operating system sees it: its threads' kernel ids and run states
(``os_threads``), facts from ``/proc`` (``process_info``), pausing it (``pause``) and
starting a command (``launch``).

Knows nothing of Python. May import ``memory``, ``binary``, ``offsets`` and the
foundation (``errors``, ``model``, ``printable``).
"""
