"""The USDT path: CPython's static probes, traced by bpftrace, fed to the same collectors.

May import ``sampling``, ``reports``, ``collectors``, ``binary``, ``kernel`` and below;
never ``top`` or ``cli``.
"""
