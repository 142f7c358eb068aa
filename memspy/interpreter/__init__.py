"""Everything that knows CPython's objects in a target's memory: the interpreters and
their thread states (``thread_states``), what is learnt of each thread besides its stack
(``thread_names``; ``thread_facts``: kernel ids, names, run states), each thread's frame
chain (``frames``), code objects and line tables (``codes``, ``linetable``), objects of any
kind (``objects``), the target's own debug offsets (``debugoffsets``), one sample of every
thread (``walk``) and a process attached (``process``).

May import ``kernel``, ``memory``, ``binary``, ``offsets`` and the foundation.
"""
