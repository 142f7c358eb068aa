# -*- coding: utf-8 -*-
"""Stack shapes that only Python 3 has: coroutines and non-ASCII identifiers.

Imported by parked.py on 3.x only, so that 2.7 never has to parse this file.
"""

import asyncio

import ünïcode_mod
from parking import park_forever


async def innermost():
    park_forever()  # blocks the whole thread while three coroutines are on its stack


async def middle():
    await innermost()


async def outermost():
    await middle()


def coroutine_chain():
    loop = asyncio.new_event_loop()
    loop.run_until_complete(outermost())


def non_ascii():
    ünïcode_mod.ünïcødé()


# (thread name, function): see parked.SHAPES.
SHAPES = [
    ("coroutines", coroutine_chain),
    ("ünïcødé-θread", non_ascii),
]
