"""Two threads, ``first`` and ``second``, and one function ``fresh`` that each calls in
turn, on command: on 2.7-3.10 the frame ``first`` ran ``fresh`` in is the frame
``second`` runs it in next (a code object keeps its last freed frame for its next
call, from any thread), now linked to ``second``'s frames.

Prints "ready", then each thread's ident ("first IDENT", "second IDENT"). Reads
commands on stdin: "enter" (``first`` calls ``fresh`` and stays in it; prints
"first"), "swap" (``first`` returns from ``fresh``, then ``second`` calls it; prints
"second" from inside it). Runs on 2.7 and 3.x alike."""

import os
import sys
import threading


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def fresh(hold, name):
    say(name)
    os.read(hold, 1)


def first(go, hold, done, then):
    os.read(go, 1)
    fresh(hold, "first")
    os.write(then, b"x")  # only now may second call fresh: its frame is free again
    os.read(done, 1)


def second(go, hold):
    os.read(go, 1)
    fresh(hold, "second")


first_go, first_hold, first_done, second_go, second_hold = [os.pipe() for _ in range(5)]
threads = [
    threading.Thread(
        target=first,
        args=(first_go[0], first_hold[0], first_done[0], second_go[1]),
        name="first",
    ),
    threading.Thread(target=second, args=(second_go[0], second_hold[0]), name="second"),
]
for thread in threads:
    thread.daemon = True
    thread.start()
say("ready")
for thread in threads:
    say("%s %d" % (thread.name, thread.ident))
for command in iter(sys.stdin.readline, ""):
    if command == "enter\n":
        os.write(first_go[1], b"x")
    elif command == "swap\n":
        os.write(first_hold[1], b"x")
