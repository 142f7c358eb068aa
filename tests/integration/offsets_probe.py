# Runs inside each target interpreter (2.7 to 3.13): reads its own objects through ctypes at
# the offsets of memspy's layout table (JSON on stdin) and prints [name, got, want] triples
# as JSON. Python 2.7 syntax on purpose; no memspy import (memspy needs 3.9+).
# ruff: noqa: UP004, UP031, UP032 (2.7 needs new-style classes and has no f-strings)
import binascii
import ctypes
import inspect
import json
import struct
import sys

try:
    import _thread as thread_mod
except ImportError:  # 2.7
    import thread as thread_mod
import threading

TABLE = json.load(sys.stdin)
S = TABLE["sections"]
F = TABLE["features"]
PY3 = sys.version_info[0] == 3
CHECKS = []
API = ctypes.pythonapi
API.PyThreadState_Get.restype = ctypes.c_void_p


def check(name, got, want):
    CHECKS.append([name, _plain(got), _plain(want)])


def _plain(value):
    """JSON-safe: byte strings as hex (on 2.7 a str is bytes, too)."""
    if isinstance(value, bytes):
        return binascii.hexlify(value).decode("ascii")
    return value


def ptr(addr):
    return ctypes.c_void_p.from_address(addr).value or 0


def i64(addr):
    return ctypes.c_ssize_t.from_address(addr).value


def u64(addr):
    return ctypes.c_uint64.from_address(addr).value


def i32(addr):
    return ctypes.c_int.from_address(addr).value


def u32(addr):
    return ctypes.c_uint32.from_address(addr).value


def u8(addr):
    return ctypes.c_uint8.from_address(addr).value


def raw(addr, n):
    return ctypes.string_at(addr, n)


def symbol(name):
    return ctypes.addressof(ctypes.c_char.in_dll(API, name))


def runtime_address():
    return symbol(TABLE["symbols"]["head"])


def frame_slot(ts):
    """Where the running _PyInterpreterFrame pointer lives (3.11+).

    Callers read it inline with ctypes (a C call pushes no frame), so what they read is
    their own frame, not this helper's.
    """
    t = S["tstate"]
    if t["current_frame"] is not None:
        return ts + t["current_frame"]
    return ptr(ts + t["cframe"]) + S["cframe"]["current_frame"]


def check_frames(marker):
    ts = API.PyThreadState_Get()
    f = sys._getframe()
    code = f.f_code
    if F["frame_model"] == "pyframe":
        p = S["pyframe"]
        here = ctypes.c_void_p.from_address(ts + S["tstate"]["frame"]).value
        check("tstate.frame", here, id(f))
        check("pyframe.f_back", ptr(id(f) + p["f_back"]), id(f.f_back))
        check("pyframe.f_code", ptr(id(f) + p["f_code"]), id(code))
        check("pyframe.f_localsplus", ptr(id(f) + p["f_localsplus"]), id(marker))
        scale = 2 if F["linetable"] == "linetable310" else 1  # 3.10 counts code units
        caller = f.f_back
        check("pyframe.f_lasti", i32(id(caller) + p["f_lasti"]) * scale, caller.f_lasti)
        check("pyframe.sizeof", p["sizeof"], type(f).__basicsize__)
        returned = _returns_once()
        zombie = ptr(id(returned) + S["code"]["zombieframe"])  # the frame kept for its next call
        check("code.zombieframe is that code's frame", ptr(zombie + p["f_code"]), id(returned))
        return
    i = S["iframe"]
    fr = ctypes.c_void_p.from_address(frame_slot(ts)).value
    check("iframe.executable", ptr(fr + i["executable"]), id(code))
    check("iframe.localsplus", ptr(fr + i["localsplus"]), id(marker))
    check("iframe.owner", u8(fr + i["owner"]), S["owner"]["thread"])
    check("iframe.previous", ptr(ptr(fr + i["previous"]) + i["executable"]), id(f.f_back.f_code))
    base = id(code) + S["code"]["code_adaptive"]
    instr = ptr(fr + i["instr"])
    check("iframe.instr in code", base <= instr < base + len(code.co_code), True)
    check("code.firsttraceable", i32(id(code) + S["code"]["firsttraceable"]), first_resume(code))
    t, c = S["tstate"], S["stack_chunk"]
    top = ctypes.c_void_p.from_address(ts + t["datastack_top"]).value  # inline: no frame pushed
    slots = len(code.co_varnames) + len(code.co_cellvars) + len(code.co_freevars)
    check("tstate.datastack_top", top, fr + i["localsplus"] + 8 * (slots + code.co_stacksize))
    co = S["code"]
    check("code.nlocalsplus", i32(id(code) + co["nlocalsplus"]), slots)
    check("code.stacksize", i32(id(code) + co["stacksize"]), code.co_stacksize)
    words = slots + code.co_stacksize + (i["sizeof"] - 1) // 8
    check("a frame's data-stack size from nlocalsplus and stacksize", fr + 8 * words, top)
    chunk, limit = ptr(ts + t["datastack_chunk"]), ptr(ts + t["datastack_limit"])
    check("stack_chunk.size", chunk + u64(chunk + c["size"]), limit)
    check("stack_chunk.previous (root chunk)", ptr(chunk + c["previous"]), 0)
    chain = []
    while fr and len(chain) < 64:
        chain.append(fr)
        fr = ptr(fr + i["previous"])
    owners = [u8(frame + i["owner"]) for frame in chain]
    in_chunk = [frame for frame in chain if chunk <= frame < limit]
    check("stack_chunk.data (first frame skips data[0])", min(in_chunk), chunk + c["data"] + 8)
    # check_frames <- main <- <module>, then 3.12+ a C-stack entry frame
    want = [S["owner"]["thread"]] * 3 + ([S["owner"]["cstack"]] if S["owner"]["cstack"] else [])
    check("owners along the chain", owners, want)
    if i["is_entry"] is not None:
        check("iframe.is_entry", [u8(frame + i["is_entry"]) for frame in chain], [0, 0, 1])


def first_resume(code):
    """Index of the first RESUME: what _co_firsttraceable records (3.11+)."""
    import dis

    raw_code = bytearray(code.co_code)
    for index in range(0, len(raw_code), 2):
        if raw_code[index] == dis.opmap["RESUME"]:
            return index // 2
    return None


def generator_frame():
    fr = ctypes.c_void_p.from_address(frame_slot(API.PyThreadState_Get())).value
    yield u8(fr + S["iframe"]["owner"]), ptr(fr + S["iframe"]["executable"])


def check_threads():
    ts = API.PyThreadState_Get()
    t, n = S["tstate"], S["interp"]
    check(
        "tstate.thread_id",
        ctypes.c_ulong.from_address(ts + t["thread_id"]).value,
        thread_mod.get_ident(),
    )
    if t["native_thread_id"] is not None:
        check("tstate.native_thread_id", i64(ts + t["native_thread_id"]), threading.get_native_id())
    interp = ptr(ts + t["interp"])
    check("interp.modules", ptr(interp + n["modules"]), id(sys.modules))
    check("interp.next (main interpreter)", ptr(interp + n["next"]), 0)
    ready, stop = threading.Event(), threading.Event()
    other = threading.Thread(target=lambda: (ready.set(), stop.wait()))
    other.start()
    ready.wait()
    seen, cur = [], ptr(interp + n["tstate_head"])
    while cur and len(seen) < 64:
        seen.append(cur)
        cur = ptr(cur + t["next"])
    idents = sorted(ctypes.c_ulong.from_address(x + t["thread_id"]).value for x in seen)
    check("threads along interp.tstate_head", idents, sorted([thread_mod.get_ident(), other.ident]))
    stop.set()
    other.join()
    r = S["runtime"]
    if F["head_model"] == "runtime":
        rt = runtime_address()
        check("runtime.interpreters_head", ptr(rt + r["interpreters_head"]), interp)
    if F["gil_model"] == "tstate_current":
        check("_PyThreadState_Current", ptr(symbol(TABLE["symbols"]["tstate_current"])), ts)
    elif F["gil_model"] == "runtime_gilstate":
        check("runtime.gilstate_tstate_current", ptr(rt + r["gilstate_tstate_current"]), ts)
        check("runtime.gil_locked", i32(rt + r["gil_locked"]), 1)
        check("runtime.gil_last_holder", ptr(rt + r["gil_last_holder"]), ts)
    else:
        gil = ptr(interp + n["ceval_gil"])
        check("interp.ceval_gil is the main interpreter's own gil", gil, interp + n["own_gil"])
        check("gil.locked", i32(gil + S["gil"]["locked"]), 1)
        check("gil.last_holder", ptr(gil + S["gil"]["last_holder"]), ts)


def check_objects():
    o, ty = S["object"], S["type"]
    thing = object()
    check("object.type", ptr(id(thing) + o["type"]), id(object))
    check("object.refcnt", i64(id(thing) + o["refcnt"]), sys.getrefcount(thing) - 1)
    check("object.sizeof", o["sizeof"], object.__basicsize__)
    items = (thing, sys)
    check("varobject.size", i64(id(items) + S["varobject"]["size"]), 2)
    check(
        "tuple.item",
        [ptr(id(items) + S["tuple"]["item"] + 8 * k) for k in (0, 1)],
        [id(thing), id(sys)],
    )
    check("tuple.item = basicsize", S["tuple"]["item"], tuple.__basicsize__)
    lst = [thing, sys]
    check("list.item", ptr(ptr(id(lst) + S["list"]["item"]) + 8), id(sys))
    check("list.allocated", i64(id(lst) + S["list"]["allocated"]) >= 2, True)
    for cls in (int, dict, type(sys), type(check.__code__)):
        for field, value in [
            ("flags", cls.__flags__),
            ("basicsize", cls.__basicsize__),
            ("itemsize", cls.__itemsize__),
            ("dictoffset", cls.__dictoffset__),
        ]:
            size = u64 if field == "flags" else i64
            check("type.{} of {}".format(field, cls.__name__), size(id(cls) + ty[field]), value)
        check(
            "type.name of " + cls.__name__,
            ctypes.string_at(ptr(id(cls) + ty["name"])),
            cls.__name__.encode("ascii"),
        )
    check("module.md_dict", ptr(id(sys) + S["module"]["md_dict"]), id(sys.__dict__))
    check("module.md_dict = dictoffset", S["module"]["md_dict"], type(sys).__dictoffset__)
    code = Instance.__dict__["__init__"].__code__  # qualname differs from name
    c = S["code"]
    check("code.filename", ptr(id(code) + c["filename"]), id(code.co_filename))
    check("code.name", ptr(id(code) + c["name"]), id(code.co_name))
    check("code.firstlineno", i32(id(code) + c["firstlineno"]), code.co_firstlineno)
    table = code.co_lnotab if F["linetable"] in ("lnotab", "lnotab_unsigned") else code.co_linetable
    check("code.linetable", ptr(id(code) + c["linetable"]), id(table))
    if c["qualname"] is not None:
        check("code.qualname", ptr(id(code) + c["qualname"]), id(code.co_qualname))
    size = c["code_adaptive"] if c["code_adaptive"] is not None else c["sizeof"]
    check("code basicsize", size, type(code).__basicsize__)

    def numbers():
        yield 1

    gen_code = numbers.__code__
    check("code.flags", i32(id(gen_code) + c["flags"]), gen_code.co_flags)
    # The interpreter's own CO_* values, as the inspect module has them.
    for name, value in sorted(S["coflags"].items()):
        if value is not None:
            check("coflags." + name, value, getattr(inspect, "CO_" + name.upper()))
    generator = S["coflags"]["generator"]
    check("coflags.generator in a generator's code", bool(gen_code.co_flags & generator), True)
    check("coflags.generator not in a function's", bool(code.co_flags & generator), False)


def _returns_once():
    """The code of a function that has run and returned: 3.10 and older keep its frame."""

    def returned():
        return None

    returned()
    return returned.__code__


def check_flags():
    t = S["tpflags"]
    pairs = [("long_subclass", type(10**30)), ("dict_subclass", dict), ("tuple_subclass", tuple)]
    if PY3:
        pairs += [("unicode_subclass", str)]
    else:
        pairs += [
            ("unicode_subclass", unicode),  # noqa: F821
            ("string_subclass", str),
            ("int_subclass", int),
        ]
    for name, cls in pairs:
        check("tpflags." + name, bool(cls.__flags__ & t[name]), True)
        check("tpflags.{} not on object".format(name), bool(object.__flags__ & t[name]), False)


def check_strings():
    if not PY3:
        s = "".join(["ab", "c"])
        check("py2str.sval", raw(id(s) + S["py2str"]["sval"], 3), b"abc")
        check("py2str.size", i64(id(s) + S["py2str"]["size"]), 3)
        check("py2str.sval = basicsize - 1", S["py2str"]["sval"], str.__basicsize__ - 1)
        u = b"ab\\u20ac".decode("unicode-escape")  # a 2.7 unicode; no u"" (ruff strips it)
        p = S["py2unicode"]
        check("py2unicode.length", i64(id(u) + p["length"]), 3)
        encoding = "utf-32-le" if p["unicode_size"] == 4 else "utf-16-le"
        check(
            "py2unicode.str", raw(ptr(id(u) + p["str"]), 3 * p["unicode_size"]), u.encode(encoding)
        )
        number = int("123457")
        check("py2int.ival", i64(id(number) + S["py2int"]["ival"]), 123457)
        return
    u = S["unicode"]
    for text, kind, ascii in [
        ("abc", 1, 1),
        ("ab\xe9", 1, 0),
        ("ab\u20ac", 2, 0),
        ("ab\U0001f600", 4, 0),
    ]:
        s = "".join([text[:1], text[1:]])
        state = u32(id(s) + u["state"])
        got = [
            (state >> u["state_kind_shift"]) & ((1 << u["state_kind_bits"]) - 1),
            (state >> u["state_compact_shift"]) & 1,
            (state >> u["state_ascii_shift"]) & 1,
        ]
        check("unicode.state of {!r}".format(text), got, [kind, 1, ascii])
        check("unicode.length of {!r}".format(text), i64(id(s) + u["length"]), 3)
        data = u["ascii_sizeof"] if ascii else u["compact_sizeof"]
        encoding = {1: "latin-1", 2: "utf-16-le", 4: "utf-32-le"}[kind]
        check("unicode data of {!r}".format(text), raw(id(s) + data, 3 * kind), s.encode(encoding))
    check("unicode.data_any + 8 = basicsize", u["data_any"] + 8, str.__basicsize__)
    b = b"".join([b"ab", b"c"])
    check("bytes.sval", raw(id(b) + S["bytes"]["sval"], 3), b"abc")
    check("bytes.size", i64(id(b) + S["bytes"]["size"]), 3)


def check_long():
    g = S["long"]
    info = getattr(sys, "int_info", None) or sys.long_info
    check("long.digit_bits", g["digit_bits"], info.bits_per_digit)
    check("long.digit_size", g["digit_size"], info.sizeof_digit)
    cls = type(10**30)
    check("long.digit = basicsize", g["digit"], cls.__basicsize__)
    for n in (10**20 + 7, -(10**20 + 7)):
        n = cls(str(n))
        if g["lv_tag"] is not None:
            tag = u64(id(n) + g["lv_tag"])
            ndigits, negative = tag >> g["lv_tag_size_shift"], (tag & g["lv_tag_sign_mask"]) == 2
        else:
            size = i64(id(n) + S["varobject"]["size"])
            ndigits, negative = abs(size), size < 0
        value = 0
        for k in range(ndigits):
            digit = u32(id(n) + g["digit"] + k * g["digit_size"])
            value |= digit << (k * g["digit_bits"])
        check("long digits of {}".format(n), -value if negative else value, n)


def dict_entries(d):
    """(key id, value id) of each entry of a combined dict, read through the table."""
    m, k = S["dict"], S["dict_keys"]
    if F["dict_model"] == "py27":
        table, mask = ptr(id(d) + m["ma_table"]), min(i64(id(d) + m["ma_mask"]), 255)
        slots = [table + j * m["entry_sizeof"] for j in range(mask + 1)]
        return [(ptr(e + 8), ptr(e + 16)) for e in slots if ptr(e + 16)]
    keys = ptr(id(d) + m["ma_keys"])
    n = min(i64(keys + k["dk_nentries"]), 64)  # bounded: a wrong offset reads garbage
    if F["dict_model"] == "py36":
        size = i64(keys + k["dk_size"])
        width = 1 if size <= 0xFF else 2 if size <= 0xFFFF else 4 if size <= 0xFFFFFFFF else 8
        entries, esize, general = keys + k["dk_indices"] + size * width, m["entry_sizeof"], True
    else:
        general = u8(keys + k["dk_kind"]) == k["kind_general"]
        entries = keys + k["dk_indices"] + (1 << u8(keys + k["dk_log2_index_bytes"]))
        esize = m["entry_sizeof"] if general else m["unicode_entry_sizeof"]
        check("dict_keys.dk_log2_size", 1 << u8(keys + k["dk_log2_size"]) >= n, True)
    first = 8 if general else 0  # PyDictKeyEntry: hash, key, value; unicode: key, value
    return [
        (ptr(entries + j * esize + first), ptr(entries + j * esize + first + 8)) for j in range(n)
    ]


def check_dicts():
    k1, k2 = "".join(["k", "1"]), 10**12
    v1, v2 = object(), object()
    d = {k1: v1, k2: v2}
    check("dict.ma_used", i64(id(d) + S["dict"]["ma_used"]), 2)
    if PY3:
        check("dict.ma_values (combined)", ptr(id(d) + S["dict"]["ma_values"]), 0)
    check("dict entries", sorted(dict_entries(d)), sorted([(id(k1), id(v1)), (id(k2), id(v2))]))
    k3 = "".join(["k", "3"])
    s = {k1: v1, k3: v2}
    check(
        "dict entries (str keys)",
        sorted(dict_entries(s)),
        sorted([(id(k1), id(v1)), (id(k3), id(v2))]),
    )
    k = S["dict_keys"]
    if F["dict_model"] == "py36":
        check("dict_keys.dk_size", i64(ptr(id(s) + S["dict"]["ma_keys"]) + k["dk_size"]), 8)
    elif F["dict_model"] == "py311":
        keys = ptr(id(s) + S["dict"]["ma_keys"])
        sizes = [u8(keys + k["dk_log2_size"]), u8(keys + k["dk_log2_index_bytes"])]
        check("dict_keys.dk_log2_size/index_bytes", sizes, [3, 3])
    check("varobject.sizeof", S["varobject"]["sizeof"], tuple.__basicsize__)


class Instance(object):
    def __init__(self, a, b):
        self.a = a
        self.b = b


def check_instance_dicts():
    va, vb = object(), object()
    o = Instance(va, vb)
    mg, iv = S["managed"], S["inline_values"]
    flags = Instance.__flags__
    managed = F["instance_dict"] != "dictoffset"
    check(
        "tpflags.managed_dict",
        bool(S["tpflags"]["managed_dict"] and flags & S["tpflags"]["managed_dict"]),
        managed,
    )
    check(
        "Thread has a managed dict",
        bool(
            S["tpflags"]["managed_dict"]
            and threading.Thread.__flags__ & S["tpflags"]["managed_dict"]
        ),
        managed,
    )
    if PY3:
        keys = ptr(id(Instance) + S["heaptype"]["cached_keys"])
        check("heaptype.cached_keys entry 0", dict_keys_first_key(keys), id("a"))
    values = None
    if mg["values"] is not None:
        values = ptr(id(o) + mg["values"])
    elif mg["values_tag"] is not None:
        slot = ptr(id(o) + mg["dict"])
        check("managed dict slot is tagged", slot & mg["values_tag"], mg["values_tag"])
        values = slot + mg["values_tag"]
    elif F["instance_dict"] == "inline_values":
        check("tpflags.inline_values", bool(flags & S["tpflags"]["inline_values"]), True)
        values = id(o) + Instance.__basicsize__
        check("inline_values.valid", u8(values + iv["valid"]), 1)
    if values is not None:
        check(
            "inline_values.values",
            [ptr(values + iv["values"] + 8 * j) for j in (0, 1)],
            [id(va), id(vb)],
        )
    d = o.__dict__
    if managed:
        check("managed.dict", ptr(id(o) + mg["dict"]), id(d))
        check("materialized dict shares the values", ptr(id(d) + S["dict"]["ma_values"]), values)
    else:
        check("type.dictoffset", ptr(id(o) + Instance.__dictoffset__), id(d))
        t = threading.Thread()
        check("Thread dictoffset", ptr(id(t) + threading.Thread.__dictoffset__), id(t.__dict__))
        if PY3:
            check(
                "split dict shares cached keys",
                ptr(id(d) + S["dict"]["ma_keys"]),
                ptr(id(Instance) + S["heaptype"]["cached_keys"]),
            )
            check("split dict values", ptr(ptr(id(d) + S["dict"]["ma_values"])), id(va))


def dict_keys_first_key(keys):
    k = S["dict_keys"]
    if F["dict_model"] == "py36":
        size = i64(keys + k["dk_size"])
        return ptr(keys + k["dk_indices"] + size + 8)  # size <= 0xff: 1-byte indices
    general = u8(keys + k["dk_kind"]) == k["kind_general"]
    entries = keys + k["dk_indices"] + (1 << u8(keys + k["dk_log2_index_bytes"]))
    return ptr(entries + (8 if general else 0))


def check_debug_offsets():
    dbg = TABLE["debug_offsets"]
    if dbg is None:
        return
    blob = raw(runtime_address() + S["runtime"]["debug_offsets"], dbg["sizeof"])
    check("debug cookie", blob[:8].decode("ascii"), dbg["cookie"])
    off = dbg["offsets"]
    check("debug version", struct.unpack_from("<Q", blob, off["version"])[0], sys.hexversion)
    for name, want in sorted(dbg["expected"].items()):
        check("_Py_DebugOffsets." + name, struct.unpack_from("<Q", blob, off[name])[0], want)


def main():
    check_frames(object())
    if F["frame_model"] == "iframe":
        owner, executable = next(generator_frame())
        check("owner.generator", owner, S["owner"]["generator"])
        check("generator iframe executable", executable, id(generator_frame.__code__))
    check_threads()
    check_objects()
    check_flags()
    check_strings()
    check_long()
    check_dicts()
    check_instance_dicts()
    check_debug_offsets()
    sys.stdout.write(json.dumps(CHECKS))


main()
