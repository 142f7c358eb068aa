# -*- coding: utf-8 -*-
"""Parks two frames whose variables are known, then prints what `memspy dump --locals`
must show for them, worked out by this interpreter itself (its own ``repr``, ``id`` and
type names), as one JSON line after "ready".

Usage: python locals_target.py   (2.7 and 3.6+; then it sleeps until killed)

The frames: ``holder(a, b=2, *rest, **options)`` with one variable of each kind the dump rebuilds, one container of each kind it names,
an object, a variable not yet bound and cells that a closure reads; and that closure,
``reader``, parked inside it, with its free variable. The rules below are the dump's
documented format: values rebuilt from memory for None, bool, int, float, str, bytes
(cut after 120 characters), small tuples and lists of those; the rest by type and count
or address.
"""

from __future__ import print_function

import json
import sys
import time

PY2 = sys.version_info[0] == 2
MAX_TEXT = 120
MAX_ITEMS = 6
INT_INFO = sys.long_info if PY2 else sys.int_info
MAX_INT_DIGITS = 200
SIMPLE = (type(None), bool, int, float, bytes, type(u""))
if PY2:
    SIMPLE += (long,)  # noqa: F821


class Job(object):
    pass


class MyInt(int):
    pass


def simple(value):
    kind = type(value)
    if kind in (bytes, type(u"")) and len(value) > MAX_TEXT:
        text = repr(value[:MAX_TEXT])
        return u"%s\u2026%s (%d long)" % (text[:-1], text[-1], len(value))
    if kind in (int, type(2 ** 70)) and kind is not bool:
        digits = -(-abs(value).bit_length() // INT_INFO.bits_per_digit)
        if digits > MAX_INT_DIGITS:
            return u"<int of %d bits>" % (digits * INT_INFO.bits_per_digit)
    return repr(value)


def shown(value):
    kind = type(value)
    if kind in SIMPLE:
        return simple(value)
    if kind in (tuple, list):
        if len(value) <= MAX_ITEMS and all(type(item) in SIMPLE for item in value):
            inner = u", ".join(simple(item) for item in value)
            if kind is tuple:
                return u"(%s)" % (inner + u"," if len(value) == 1 else inner)
            return u"[%s]" % inner
    if kind in (tuple, list, dict, set, frozenset):
        return u"<%s of %d>" % (kind.__name__, len(value))
    return u"<%s at 0x%x>" % (kind.__name__, id(value))


def expected(frame):
    """Name -> [whether an argument, what the dump shows] for every variable of the
    frame's code (unbound ones: null)."""
    code = frame.f_code
    names = list(code.co_varnames) + list(code.co_cellvars) + list(code.co_freevars)
    count = code.co_argcount + getattr(code, "co_kwonlyargcount", 0)
    count += bool(code.co_flags & 4) + bool(code.co_flags & 8)
    values = frame.f_locals
    out = {}
    for index, name in enumerate(names):  # an argument in a cell is named twice: once here
        if name not in out:
            out[name] = [index < count, shown(values[name]) if name in values else None]
    return out


def park(frames):
    view = dict((frame.f_code.co_name, expected(frame)) for frame in frames)
    sys.stdout.write("ready\n" + json.dumps(view) + "\n")
    sys.stdout.flush()
    while True:
        time.sleep(1000)


def holder(a, b=2, *rest, **options):
    small, negative, zero = 7, -12, 0
    big, huge, bigger = 2 ** 100, -(2 ** 70), 3 ** 9000
    ratio, tiny, infinite = 1.5, -0.0, float("inf")
    yes, no, nothing = True, False, None
    text, accented, greek, emoji = "plain", u"é", u"Κλάση", u"\U0001F600"
    hostile = "\x1b]0;pwned\x07 and\ttab"
    long_text = "x" * 1000
    raw = b"\x00\xffbytes"
    empty, one, pair = (), (1,), (1, u"two")
    items, nested, many = [1, 2.5, None], [[1]], list(range(10))
    mapping, group, frozen = {"k": 1, "j": 2}, set([1, 2, 3]), frozenset()
    job, number = Job(), MyInt(5)
    captured = "closed over"

    def reader():
        seen = captured, a  # ``a``, an argument in a cell: ≤3.10 moves it out of its slot
        park([sys._getframe(), sys._getframe(1)])
        return seen

    reader()
    unbound = 1
    return unbound


if __name__ == "__main__":
    holder(1, 2, 3, 4, flag=True)
