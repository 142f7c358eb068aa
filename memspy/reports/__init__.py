"""Text for people made from stacks: the top-functions table (``summary``), the comparison
of two profiles (``diff``) and one sample of every thread as ``dump`` prints it
(``thread_dump``).

May import ``collectors``, ``readers``, ``interpreter`` and below.
"""
