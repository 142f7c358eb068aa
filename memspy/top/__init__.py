"""``memspy top``: what it counts over the last interval and the whole run (``counts``),
and the screen it draws from them (``screen``).

May import ``sampling`` and below.
"""
