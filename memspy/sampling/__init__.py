"""Taking samples over time: the timer loop over every target (``sampler``), what
``record`` does around it (``recording``: filtering, routing to the writer, the end-of-run
report), saving the profile so far (``checkpoint``) and one profile per interval
(``rotation``).

May import ``reports``, ``collectors``, ``readers``, ``interpreter``, ``kernel`` and below.
"""
