"""Qualified names (``Class.method``) for traced frames, read from the source.

The probes give a code object's bare ``co_name``, its file and a line: ``co_firstlineno``
(pyusdt) or the line the function starts running at (CPython's ``function__entry``).
``record`` shows ``co_qualname`` on 3.11+, so to look the same, a frame is qualified when
its file parses and exactly one function, class, lambda or comprehension of that name
begins at that line; otherwise, or where there is no source (``<string>``, frozen
modules, a file gone since), the bare name stays.
"""

from __future__ import annotations

import ast
import os
from typing import Dict, Optional, Tuple

from memspy.model import Frame

# Code objects that are expressions, and the co_name CPython gives each.
_EXPRESSIONS = {
    ast.Lambda: "<lambda>",
    ast.GeneratorExp: "<genexpr>",
    ast.ListComp: "<listcomp>",
    ast.SetComp: "<setcomp>",
    ast.DictComp: "<dictcomp>",
}
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_MAX_SOURCE = 16 * 1024 * 1024

Table = Dict[Tuple[str, int], Optional[str]]  # evaluated: memspy runs on 3.9


def _index(tree: ast.AST) -> Table:
    """(co_name, line) -> qualified name, for the lines a code object can report: where
    it begins (its first decorator) and where its ``def`` or expression is; None where
    two code objects share a key."""
    table: Table = {}

    def add(name: str, lines: set[int], qualname: str) -> None:
        for line in lines:
            key = (name, line)
            table[key] = qualname if table.get(key, qualname) == qualname else None

    outer_iterables: set[int] = set()  # ids of nodes visited in their enclosing scope

    def visit(node: ast.AST, prefix: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if id(child) in outer_iterables:
                continue
            inner = prefix
            if isinstance(child, _SCOPES):
                qualname = None if prefix is None else prefix + child.name
                if qualname is not None:
                    lines = {child.lineno} | {d.lineno for d in child.decorator_list}
                    add(child.name, lines, qualname)
                local = not isinstance(child, ast.ClassDef)
                inner = qualname and qualname + (".<locals>." if local else ".")
            elif type(child) in _EXPRESSIONS:
                name = _EXPRESSIONS[type(child)]
                if prefix is not None:
                    add(name, {child.lineno}, prefix + name)
                if not isinstance(child, ast.Lambda):
                    # A comprehension's first iterable runs in the enclosing scope.
                    first = child.generators[0].iter
                    visit(ast.Expression(first), prefix)
                    outer_iterables.add(id(first))
                    # 3.12 inlines list, set and dict comprehensions (PEP 709), 3.11 does
                    # not: what they hold has a qualified name that depends on the version.
                    if not isinstance(child, ast.GeneratorExp):
                        continue
                # CPython says <locals> after functions only, not after comprehensions.
                inner = prefix and prefix + name + (".<locals>." if name == "<lambda>" else ".")
            visit(child, inner)

    visit(tree, "")
    return table


class Qualifier:
    """Qualifies frames of one process; files are read once, under ``root`` (the target's
    ``/proc/PID/root`` while it lives) with relative names under ``cwd``."""

    def __init__(self, root: str = "", cwd: str = "") -> None:
        self.root = root
        self.cwd = cwd or os.getcwd()
        self._tables: dict[str, Table] = {}
        self._frames: dict[Frame, Frame] = {}
        self.qualified = 0  # distinct frames given a qualified name

    @classmethod
    def of_process(cls, pid: int) -> Qualifier:
        """For a live process: its files as it sees them, through /proc only when it
        lives in another mount namespace (so they stay readable after it exits)."""
        root = f"/proc/{pid}/root"
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
            same = os.path.samestat(os.stat(root), os.stat("/"))
        except OSError:
            return cls()
        return cls("" if same else root, cwd)

    def _table(self, filename: str) -> Table:
        table = self._tables.get(filename)
        if table is None:
            path = self.root + os.path.join(self.cwd, filename)
            try:
                if os.path.getsize(path) > _MAX_SOURCE:
                    raise ValueError
                with open(path, "rb") as f:
                    table = _index(ast.parse(f.read(), filename))
            except (OSError, ValueError, SyntaxError, RecursionError):
                table = {}
            self._tables[filename] = table
        return table

    def __call__(self, frame: Frame) -> Frame:
        done = self._frames.get(frame)
        if done is None:
            done = frame
            if not frame.filename.startswith("<"):
                qualname = self._table(frame.filename).get((frame.name, frame.lineno))
                if qualname is not None and qualname != frame.name:
                    done = frame._replace(name=qualname)
                    self.qualified += 1
            self._frames[frame] = done
        return done
