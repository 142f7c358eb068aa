"""Everything that knows CPython's objects in a target's memory: the interpreters and
their thread states (``thread_states``, ``thread_names``), each thread's frame chain
(``frames``), code objects and line tables (``codes``, ``linetable``), objects of any kind
(``objects``), the target's own debug offsets (``debugoffsets``), one sample of every
thread (``walk``) and a process attached (``process``).

May import ``kernel``, ``memory``, ``binary``, ``offsets`` and the foundation.
"""
