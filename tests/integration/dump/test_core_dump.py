"""`memspy dump --core` equals the live dump of the same stopped process, on every interpreter.

One parked.py per interpreter is SIGSTOPped, dumped live (`memspy dump --json -p`) and
written to a core by gcore; the core's dump must then be the live dump, frame for frame
(names, files, lines), with the same thread ids, kernel ids, names and GIL holder, and
agree with `pystack core`. A core the kernel writes (a target that calls os.abort() under
`ulimit -c unlimited`) leaves read-only file data out of the core, which memspy then reads
from the mapped files. Then each way a core can be wrong, as one clear line.
"""

from __future__ import annotations

import importlib.util
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from interpreters import INTERPRETERS, Interpreter
from selfview import assert_stacks_match, threads_from_dump_json
from target import SPINNER, TARGETS, Target, start_target
from test_dump_errors import assert_one_line_error as one_line_error

REPO = Path(__file__).resolve().parents[3]
MEMSPY = [sys.executable, "-m", "memspy"]
ABORTING = TARGETS / "aborting.py"


def memspy(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*MEMSPY, *args], capture_output=True, text=True, timeout=120, cwd=str(REPO)
    )


def dump_json(*args: str) -> List[Dict[str, Any]]:
    run = memspy("dump", "--json", *args)
    assert run.returncode == 0, f"memspy dump {args} failed ({run.returncode}):\n{run.stderr}"
    return json.loads(run.stdout)


def gcore(pid: int, prefix: Path) -> Path:
    if shutil.which("gcore") is None:
        pytest.skip("gcore is not installed (it comes with gdb)")
    run = subprocess.run(
        ["gcore", "-o", str(prefix), str(pid)], capture_output=True, text=True, timeout=120
    )
    core = Path(f"{prefix}.{pid}")
    assert run.returncode == 0 and core.exists(), f"gcore failed:\n{run.stdout}\n{run.stderr}"
    return core


def comparable(dump: List[Dict[str, Any]]) -> Dict[int, Tuple[Any, ...]]:
    """Everything a dump says of each thread but `active` (see test_active_in_a_core)."""
    return {
        t["thread_id"]: (
            t["pid"],
            t["thread_name"],
            t["os_thread_id"],
            t["owns_gil"],
            [(f["name"], f["filename"], f["line"]) for f in t["frames"]],
        )
        for t in dump
    }


@dataclass
class Cored:
    interpreter: Interpreter
    view: Dict[str, Any]  # what the target recorded of itself
    live: List[Dict[str, Any]]  # memspy dump --json -p, the process stopped
    core: Path  # gcore of the same stopped process
    pid: int
    dump: List[Dict[str, Any]]  # memspy dump --json --core, the process gone


def small_target(python: Path, workdir: Path) -> Target:
    """parked.py with one malloc arena: glibc reserves 64 MB per thread otherwise, and
    gcore writes each out, a gigabyte of core per target."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MALLOC_ARENA_MAX", "1")
        return start_target(python, workdir)


@pytest.fixture(scope="module", params=INTERPRETERS, ids=[i.id for i in INTERPRETERS])
def cored(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[Cored]:
    """A live dump and a core of one stopped target per interpreter."""
    interpreter: Interpreter = request.param
    interpreter.require()
    workdir = tmp_path_factory.mktemp(f"core-{interpreter.id}")
    target = small_target(interpreter.path, workdir)
    try:
        with target.stopped():
            live = dump_json("-p", str(target.pid))
            core = gcore(target.pid, workdir / "core")
    finally:
        target.kill()
    yield Cored(interpreter, target.view, live, core, target.pid, dump_json("--core", str(core)))
    core.unlink()


def test_core_dump_equals_the_live_dump(cored: Cored) -> None:
    core = comparable(cored.dump)
    live = comparable(cored.live)
    assert set(core) == set(live)
    for ident, expected in live.items():
        assert core[ident] == expected, f"thread {ident:#x} ({expected[1]!r})"
    assert all(t["os_thread_id"] for t in cored.live)  # kernel ids known, and compared


def test_core_dump_equals_the_self_view(cored: Cored) -> None:
    assert_stacks_match(cored.view, threads_from_dump_json(cored.dump))


def test_active_in_a_core(cored: Cored) -> None:
    """A core says what each thread was doing when it was written: waiting in a system
    call (the parked threads, on a lock) or running in user space (the spinner, stopped
    mid-loop). The live dump of the stopped process shows them all stopped."""
    threads = {t["thread_name"]: t for t in cored.dump}
    for name, thread in threads.items():
        assert thread["active"] is (name == SPINNER), name


def test_core_text_header(cored: Cored) -> None:
    run = memspy("dump", "--core", str(cored.core))
    assert run.returncode == 0, run.stderr
    first, second = run.stdout.splitlines()[:2]
    assert first.startswith(f"Core file {cored.core} of process {cored.pid}: ")
    assert cored.view["executable"].rpartition("/")[2] in first
    major, minor, _ = cored.view["version"]
    assert second.startswith(f"Python v{major}.{minor}.")


def test_core_dump_agrees_with_pystack(cored: Cored) -> None:
    pytest.importorskip("pystack", reason="pystack is not installed (pip install pystack==1.7.2)")
    from pystacktext import parse_pystack, problems, run_pystack_core

    text = run_pystack_core(cored.core, Path(cored.view["executable"]))
    qualified = cored.interpreter.version >= (3, 11)
    assert problems(cored.dump, parse_pystack(text), qualified) == []


def _core_pattern_in_cwd() -> None:
    try:
        pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()
    except OSError:
        pytest.skip("cannot read /proc/sys/kernel/core_pattern")
    if pattern.startswith("|"):
        pytest.skip(f"the kernel pipes cores to a helper here (core_pattern {pattern!r})")
    if "/" in pattern:
        pytest.skip(f"the kernel writes cores elsewhere, not the working directory ({pattern!r})")
    if resource.getrlimit(resource.RLIMIT_CORE)[1] == 0:
        pytest.skip("the hard core size limit is 0")


def _unlimited_cores() -> None:
    """In the child: as `ulimit -c unlimited`, as far as the hard limit allows."""
    hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))


def _is_elf(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


def kernel_core(python: Path, workdir: Path) -> Path:
    """Run aborting.py until it aborts; the core the kernel wrote of it."""
    _core_pattern_in_cwd()
    read_end, write_end = os.pipe()
    env = dict(os.environ, LC_ALL="C.UTF-8", PYTHONDONTWRITEBYTECODE="1")
    env.pop("PYTHONPATH", None)
    try:
        process = subprocess.Popen(
            [str(python), str(ABORTING), str(write_end)],
            stdin=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            pass_fds=(write_end,),
            env=env,
            cwd=str(workdir),
            preexec_fn=_unlimited_cores,
        )
        os.close(write_end)
        write_end = -1
        with os.fdopen(read_end, "rb") as ready:
            read_end = -1
            assert ready.readline() == b"ready\n", process.communicate(timeout=60)[1]
        _, err = process.communicate(timeout=120)
    finally:
        for fd in (read_end, write_end):
            if fd >= 0:
                os.close(fd)
    assert process.returncode == -signal.SIGABRT, err
    cores = [p for p in workdir.iterdir() if _is_elf(p)]
    assert len(cores) == 1, f"no core written in {workdir}: {sorted(workdir.iterdir())}"
    return cores[0]


def _rows(thread: Dict[str, Any]) -> List[Tuple[str, str]]:
    return [(f["name"], os.path.basename(f["filename"])) for f in thread["frames"]]


def test_a_core_written_by_the_kernel(interpreter: Interpreter, tmp_path: Path) -> None:
    """Linux leaves a mapped file's read-only data out of a core (all but its first page):
    the version, type objects and constant strings are read from the files instead."""
    core = kernel_core(interpreter.path, tmp_path)
    dump = dump_json("--core", str(core))
    threads = {t["thread_name"]: t for t in dump}
    assert set(threads) == {"MainThread", "recursion", "generator"}
    source = [line.strip() for line in ABORTING.read_text().splitlines()]
    abort_line = next(n for n, line in enumerate(source, 1) if line.startswith("os.abort()"))
    main = threads["MainThread"]
    assert _rows(main) == [("crash", "aborting.py"), ("main", "aborting.py"),
                           ("<module>", "aborting.py")]
    assert main["frames"][0]["line"] == abort_line
    # It called abort(), holding the GIL: it was running, though it was in a system call.
    assert main["owns_gil"] and main["active"]
    recursion = _rows(threads["recursion"])
    assert recursion[0] == ("park_forever", "parking.py")
    assert recursion[1:51] == [("recurse", "aborting.py")] * 50
    assert recursion[51] == ("recursion", "aborting.py")
    generator = _rows(threads["generator"])
    assert generator[:3] == [("park_forever", "parking.py"), ("generator_body", "aborting.py"),
                             ("generator", "aborting.py")]
    for name in ("recursion", "generator"):
        assert not threads[name]["owns_gil"] and not threads[name]["active"], name
    if interpreter.version >= (3, 11):
        _read_from_the_file(core, interpreter)
    if importlib.util.find_spec("pystack") is not None:
        from pystacktext import parse_pystack, problems, run_pystack_core

        text = run_pystack_core(core, interpreter.path)
        assert problems(dump, parse_pystack(text), interpreter.version >= (3, 11)) == []


def _read_from_the_file(core: Path, interpreter: Interpreter) -> None:
    """Py_Version, in the interpreter's read-only data: not in the kernel's core, read from
    the file the core names, at the offset its NT_FILE note gives."""
    from memspy.binary import find_python_in_core
    from memspy.errors import RemoteReadError
    from memspy.memory.core import CoreMemory

    memory = CoreMemory(str(core))
    try:
        image = find_python_in_core(memory)
        address = image.address("Py_Version")
        assert address is not None
        with pytest.raises(RemoteReadError):
            memory.read_dumped(address, 4)
        assert image.version.how == "Py_Version"
        assert (image.version.major, image.version.minor) == interpreter.version
    finally:
        memory.close()


# -- what can be wrong with a core ------------------------------------------------------------

PRESENT = [i for i in INTERPRETERS if i.present]


@pytest.fixture(scope="module")
def newest(tmp_path_factory) -> Iterator[Tuple[Path, Target, Interpreter]]:
    """A gcore of parked.py on the newest interpreter present (the target is gone)."""
    if not PRESENT:
        pytest.skip("no interpreter of tests/interpreters.py is installed")
    workdir = tmp_path_factory.mktemp("core-errors")
    target = small_target(PRESENT[-1].path, workdir)
    try:
        with target.stopped():
            core = gcore(target.pid, workdir / "core")
    finally:
        target.kill()
    yield core, target, PRESENT[-1]
    core.unlink()


def test_usage_errors(tmp_path: Path) -> None:
    for args in ([], ["-p", "1", "--core", "x"], ["-p", "1", "--executable", "x"]):
        run = memspy("dump", *args)
        assert run.returncode == 2 and "Traceback" not in run.stderr, (args, run.stderr)
        assert "--core" in run.stderr.splitlines()[-1], (args, run.stderr)


def test_not_a_core_file(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a core\n")
    one_line_error(memspy("dump", "--core", str(text)), 9, "is not a core file", "gcore")
    one_line_error(memspy("dump", "--core", sys.executable), 9, "is not a core file")
    one_line_error(memspy("dump", "--core", str(tmp_path / "absent")), 9, "cannot read core file")


def _cut(core: Path, into: Path, size: int) -> Path:
    into.write_bytes(core.read_bytes()[:size])
    return into


def test_a_truncated_core_is_dumped_as_far_as_it_goes(newest, tmp_path: Path) -> None:
    """Cut at the end: what can still be read is printed, then one line says what is
    missing. gdb writes its notes last, the kernel its memory: a cut takes those first."""
    core, target, interpreter = newest
    size = core.stat().st_size
    cut = _cut(core, tmp_path / "gcore-cut", size - 3 * 4096)
    run = memspy("dump", "--core", str(cut))
    one_line_error(run, 9, "is truncated", "its notes cut short", "dump shows what could be read")
    assert run.stdout.startswith(f"Core file {cut} of process {target.pid}"), run.stdout
    assert f'"{SPINNER}"' in run.stdout and "park_forever" in run.stdout, run.stdout

    (tmp_path / "kernel").mkdir()
    kernel = kernel_core(interpreter.path, tmp_path / "kernel")
    size = kernel.stat().st_size
    cut = _cut(kernel, tmp_path / "kernel-cut", size - 3 * 4096)
    run = memspy("dump", "--core", str(cut))
    one_line_error(run, 9, f"is truncated: {size - 3 * 4096} of ", "bytes of memory missing")
    assert "crash (" in run.stdout and "recurse (" in run.stdout, run.stdout


def test_a_core_cut_short_says_so(newest, tmp_path: Path) -> None:
    """Cut early: its program headers, or everything the interpreter is found with, are
    gone; nothing is printed but the reason."""
    core, _, _ = newest
    size = core.stat().st_size
    early = (
        (600, ("truncated or damaged", "program headers", "the file has 600 bytes")),
        (size // 20, (f"is truncated: {size // 20} of ", "no NT_FILE note")),
    )
    for keep, words in early:
        run = memspy("dump", "--core", str(_cut(core, tmp_path / f"cut-{keep}", keep)))
        one_line_error(run, 9, *words)
        assert run.stdout == ""


def test_a_core_of_a_program_that_is_not_python(tmp_path: Path) -> None:
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        core = gcore(sleeper.pid, tmp_path / "core")
    finally:
        sleeper.kill()
        sleeper.wait()
    one_line_error(memspy("dump", "--core", str(core)), 5, "sleep", "is not a Python process")


def test_an_executable_of_another_build_is_refused(newest) -> None:
    core, _, interpreter = newest
    others = [i for i in PRESENT if i.path.resolve() != interpreter.path.resolve()]
    if not others:
        pytest.skip("needs a second interpreter")
    other = str(others[0].path.resolve())
    run = memspy("dump", "--core", str(core), "--executable", other)
    one_line_error(run, 9, other, "does not match core file", "build id", "--executable")


SYSTEM = Path("/usr/bin/python3.11")  # static: the executable holds the interpreter


def system_python_core(tmp_path: Path) -> Tuple[Path, Path]:
    """A core of a copy of Debian's static python3.11, sleeping; and the copy's path."""
    if not SYSTEM.exists():
        pytest.skip(f"{SYSTEM} is not installed")
    copy = tmp_path / "first" / "python3.11"
    copy.parent.mkdir()
    shutil.copy2(SYSTEM, copy)
    code = "import sys, time\nprint('ready', flush=True)\ntime.sleep(120)"
    process = subprocess.Popen([str(copy), "-c", code], stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None and process.stdout.readline() == b"ready\n"
        core = gcore(process.pid, tmp_path / "core")
    finally:
        process.kill()
        process.wait()
    return core, copy


def test_a_moved_executable_is_named_with_executable(tmp_path: Path) -> None:
    """The executable moved after the core was written: the core names a path that is
    gone; --executable gives the new one."""
    core, first = system_python_core(tmp_path)
    moved = tmp_path / "moved-python3.11"
    first.rename(moved)
    run = memspy("dump", "--core", str(core))
    one_line_error(run, 9, str(first), "not on this machine", "--executable")
    threads = dump_json("--core", str(core), "--executable", str(moved))
    assert [f["name"] for f in threads[0]["frames"]] == ["<module>"]


def test_an_unsupported_version_is_named(tmp_path: Path) -> None:
    """A core of a version memspy has no layout for: the executable's read-only data, which
    a core leaves out, says 3.14.0 (written into a copy's Py_Version; its build id stays)."""
    from elftools.elf.elffile import ELFFile

    core, executable = system_python_core(tmp_path)
    data = bytearray(executable.read_bytes())
    with open(executable, "rb") as f:
        elf = ELFFile(f)
        symbol = elf.get_section_by_name(".dynsym").get_symbol_by_name("Py_Version")[0]
        section = elf.get_section(symbol["st_shndx"])
        offset = section["sh_offset"] + symbol["st_value"] - section["sh_addr"]
    data[offset : offset + 4] = (0x030E00F0).to_bytes(4, "little")
    executable.write_bytes(bytes(data))
    one_line_error(memspy("dump", "--core", str(core)), 6, "3.14", "not supported")
