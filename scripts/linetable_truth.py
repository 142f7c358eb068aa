"""Dump an interpreter's own line for every instruction position, as JSON on stdout.

Runs *inside* each target interpreter (2.7 to 3.13), so it sticks to syntax and
modules every one of them has. The truth is ``PyCode_Addr2Line`` itself, called
through ctypes: that is the function behind ``frame.f_lineno`` and traceback lines,
which ``dis``/``co_lines`` only approximate. Live frames (a running function, a
generator that has not started) check that frames really use it that way.

Usage: python linetable_truth.py MODULE [MODULE...]
"""
# ruff: noqa: UP028, UP031  (this file must stay valid Python 2.7)

import binascii
import ctypes
import json
import sys
import types

ADDR2LINE = ctypes.pythonapi.PyCode_Addr2Line
ADDR2LINE.restype = ctypes.c_int
ADDR2LINE.argtypes = [ctypes.py_object, ctypes.c_int]

# 3.10+ store positions in code units and call Addr2Line with the byte address.
UNIT = 2 if sys.version_info >= (3, 10) else 1


def table_of(code):
    if sys.version_info >= (3, 10):
        return code.co_linetable
    return code.co_lnotab


def walk(code):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            for inner in walk(const):
                yield inner


def describe(code, name):
    positions = range(-1, len(code.co_code) // UNIT)
    return {
        "name": name,
        "table": binascii.hexlify(table_of(code)).decode("ascii"),
        "firstlineno": code.co_firstlineno,
        "lines": [ADDR2LINE(code, p * UNIT) for p in positions],
    }


def source_code(module_name):
    module = __import__(module_name, fromlist=["_"])
    path = module.__file__
    if path.endswith((".pyc", ".pyo")):
        path = path[:-1]
    with open(path, "rb") as f:
        return compile(f.read(), path, "exec")


def position_of(frame):
    """The position memspy reads from the C frame: f_lasti in bytes (<=3.9) or units."""
    if frame.f_lasti < 0 or UNIT == 1:
        return frame.f_lasti
    return frame.f_lasti // 2


def live_frames():
    def running():
        here = sys._getframe()
        first = (position_of(here), here.f_lineno)
        here = sys._getframe()
        return [first, (position_of(here), here.f_lineno)]

    def generator():
        yield sys._getframe()

    frames = []
    for position, lineno in running():
        frames.append((running.__code__, position, lineno))
    gen = generator()
    frames.append((generator.__code__, position_of(gen.gi_frame), gen.gi_frame.f_lineno))
    started = next(gen)
    frames.append((generator.__code__, position_of(started), started.f_lineno))
    result = []
    for code, position, lineno in frames:
        entry = describe(code, code.co_name)
        del entry["lines"]
        entry.update(position=position, lineno=lineno)
        result.append(entry)
    return result


def main():
    codes = []
    for module_name in sys.argv[1:]:
        for code in walk(source_code(module_name)):
            codes.append(
                describe(code, "%s:%s:%d" % (module_name, code.co_name, code.co_firstlineno))
            )
    json.dump(
        {"version": list(sys.version_info[:3]), "codes": codes, "frames": live_frames()}, sys.stdout
    )


if __name__ == "__main__":
    main()
