"""Thread names, read from the ``threading`` module's registry inside the target.

CPython keeps no name on a thread state: the name is an attribute of the ``threading.Thread``
object, which ``threading._active`` maps from the thread's ident, the same number as the
thread state's ``thread_id``. So the path is interpreter → ``sys.modules`` → ``threading``
→ ``_active`` → each Thread → its name attribute. Threads started without ``threading``
are not in the registry and simply get no name.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Dict, List, Mapping

from memspy.errors import RemoteReadError
from memspy.interpreter.objects.containers import PyObjects
from memspy.interpreter.objects.strings import RemoteObjects
from memspy.memory.base import Memory
from memspy.offsets import Layout

MODULE = "threading"
REGISTRY = "_active"  # ident -> Thread, for every started, unfinished Thread (main included)
# The attribute the name is stored in: Python 2's Thread has `self.__name`, mangled.
NAME_ATTRIBUTE = {2: "_Thread__name", 3: "_name"}
_WORD = (1 << 64) - 1  # 2.7 stores idents as a signed C long, thread states as unsigned


class ThreadNames:
    """Looks up ident → name for one interpreter; run again when unknown threads appear."""

    def __init__(
        self, memory: Memory, layout: Layout, objects: RemoteObjects, addresses: Mapping[str, int]
    ) -> None:
        self.layout = layout
        self.objects = objects
        # A fresh reader per lookup: its caches are by address, which the target reuses.
        self._reader = partial(PyObjects, memory, layout, objects, dict(addresses))
        self._attribute = NAME_ATTRIBUTE[layout.version[0]]

    def lookup(self, interp_addr: int) -> Dict[int, str]:
        """Names of the interpreter's ``threading`` threads by ident; {} before ``threading``
        is imported. Threads whose name cannot be read are left out; ``RemoteReadError``
        when the registry itself cannot be read."""
        objs = self._reader()
        modules = _one(objs.pointers([interp_addr + self.layout.interp.modules]), "sys.modules")
        if not modules:
            return {}
        found = objs.find(_one_dict(objs, modules, "sys.modules"), MODULE)
        if not found:
            return {}
        module_dict = _one(objs.module_dicts(found.values()), "the threading module")
        registry = objs.find(_one_dict(objs, module_dict, "threading.__dict__"), REGISTRY)
        if not registry:
            raise RemoteReadError(f"{MODULE} has no {REGISTRY}")
        active = _one(objs.dicts(registry.values()), f"{MODULE}.{REGISTRY}")
        idents = objs.ints(key for key, _ in active)
        names = objs.find(objs.attributes(thread for _, thread in active), self._attribute)
        out: Dict[int, str] = {}
        for key, thread in active:
            if key not in idents or thread not in names:
                continue
            try:
                out[idents[key] & _WORD] = self.objects.string(names[thread])
            except RemoteReadError:
                continue  # not a str, or freed meanwhile: this thread stays unnamed
        return out


def _one(found: Mapping[int, Any], what: str) -> Any:
    """The single value of a one-object batch, or ``RemoteReadError`` naming ``what``."""
    if len(found) != 1:
        raise RemoteReadError(f"cannot read {what} in the target")
    return next(iter(found.values()))


def _one_dict(objs: PyObjects, addr: int, what: str) -> Dict[int, List[Any]]:
    return {addr: _one(objs.dicts([addr]), what)}
