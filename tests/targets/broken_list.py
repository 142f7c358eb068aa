"""A target that breaks its own thread list until told to mend it: the last thread state's
``next`` link is pointed at an unmapped page, so every read of the list fails there, as a
list read across a thread's end can. Nothing in a program that only sleeps and reads stdin
follows that link; it is mended before the interpreter could. Runs on 2.7 and 3.x alike.

Usage: broken_list.py NEXT_OFFSET (the ``next`` field's offset in a thread state). Prints
"ready", then at each line on stdin: breaks the link ("broken"), mends it ("mended"), ends."""

import ctypes
import sys

UNMAPPED = 0x1000  # the first page past NULL: never mapped


def last_thread_state(next_offset):
    get = ctypes.pythonapi.PyThreadState_Get
    get.restype = ctypes.c_void_p
    addr = get()
    while True:
        link = ctypes.c_void_p.from_address(addr + next_offset)
        if not link.value:
            return link
        addr = link.value


def main():
    link = last_thread_state(int(sys.argv[1]))
    say("ready")
    sys.stdin.readline()
    link.value = UNMAPPED
    say("broken")
    sys.stdin.readline()
    link.value = None
    say("mended")
    sys.stdin.readline()


def say(word):
    sys.stdout.write(word + "\n")
    sys.stdout.flush()


main()
