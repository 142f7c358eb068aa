"""Making strings from the target safe to print.

Names and paths come from untrusted memory: a hostile target could name a function
"\x1b]0;pwned\x07" to drive the user's terminal. Control characters are shown escaped.
"""

from __future__ import annotations

import re

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 256 else f"\\u{code:04x}"


def printable(text: str) -> str:
    return _CONTROL.sub(_escape, text)
