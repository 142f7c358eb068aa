# -*- coding: utf-8 -*-
"""A module whose file name, function and class names are not ASCII (Python 3 only)."""

from parking import park_forever


class Κλάση:
    def μέθοδος(self):
        park_forever()


def ünïcødé():
    Κλάση().μέθοδος()
