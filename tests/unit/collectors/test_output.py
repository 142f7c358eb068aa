"""Atomic profile writing: all of the file or none of it, and the old file kept on failure."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from memspy.collectors.output import check_writable, write_atomic
from memspy.errors import OutputError


def leftovers(directory: Path) -> list:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_writes_the_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    write_atomic(target, lambda stream: stream.write(b"profile"))
    assert target.read_bytes() == b"profile"
    assert leftovers(tmp_path) == []
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_failure_keeps_the_old_file_and_removes_the_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    target.write_bytes(b"old")

    def fails(stream) -> None:
        stream.write(b"half of a new")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, fails)
    assert target.read_bytes() == b"old"
    assert leftovers(tmp_path) == []


def test_replacing_keeps_the_mode_of_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "out.svg"
    target.write_bytes(b"old")
    target.chmod(0o640)
    write_atomic(target, lambda stream: stream.write(b"new"))
    assert target.read_bytes() == b"new"
    assert target.stat().st_mode & 0o777 == 0o640


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_under_sudo_the_file_belongs_to_the_invoking_user(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SUDO_UID", "65534")
    monkeypatch.setenv("SUDO_GID", "65533")
    target = tmp_path / "out.txt"
    write_atomic(target, lambda stream: stream.write(b"x"))
    assert (target.stat().st_uid, target.stat().st_gid) == (65534, 65533)


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="does not exist") as error:
        check_writable(tmp_path / "nowhere" / "out.json")
    assert error.value.hint


def test_parent_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(OutputError, match="is not a directory"):
        check_writable(tmp_path / "file" / "out.json")


def test_target_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="is a directory"):
        check_writable(tmp_path)


def test_directory_not_writable(tmp_path: Path) -> None:
    # Root ignores permission bits but not a read-only file system; /proc is one for both.
    with pytest.raises(OutputError, match="/proc/out.json: /proc does not take new files"):
        check_writable("/proc/out.json")


def test_file_size_limit_is_a_clear_error_and_leaves_nothing(tmp_path: Path) -> None:
    """RLIMIT_FSIZE makes write() fail with EFBIG, as a full disk gives ENOSPC."""
    target = tmp_path / "out.txt"
    target.write_bytes(b"old")
    script = textwrap.dedent(
        f"""
        import resource
        from memspy.errors import OutputError
        from memspy.collectors.output import write_atomic
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        try:
            write_atomic({str(target)!r}, lambda stream: stream.write(b"x" * 100000))
        except OutputError as error:
            print(error)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert "the file is too large" in result.stdout and "nothing was written" in result.stdout
    assert target.read_bytes() == b"old"
    assert leftovers(tmp_path) == []


def _device(path: Path, minor: int) -> Path:
    """A copy of one of /dev's memory devices (1, minor), so a failing test harms no real one."""
    if os.geteuid() != 0:
        pytest.skip("making a device node needs root")
    os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, minor))
    return path


def test_a_device_is_written_into_not_replaced(tmp_path: Path) -> None:
    """A character device stays one (as root, `-o /dev/null` must not destroy /dev/null)."""
    device = _device(tmp_path / "null", 3)
    write_atomic(device, lambda stream: stream.write(b"profile"))
    assert stat.S_ISCHR(device.stat().st_mode)
    assert leftovers(tmp_path) == []


def test_a_full_device_is_a_clear_error_and_stays_a_device(tmp_path: Path) -> None:
    device = _device(tmp_path / "full", 7)
    with pytest.raises(OutputError, match=f"cannot write {device}: the disk is full"):
        write_atomic(device, lambda stream: stream.write(b"x" * 100000))
    assert stat.S_ISCHR(device.stat().st_mode)


def test_a_fifo_gets_the_bytes(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    write_atomic(fifo, lambda stream: stream.write(b"through the pipe"))
    assert reader.communicate(timeout=30)[0] == b"through the pipe"
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_a_symlink_is_followed_and_the_file_it_names_replaced(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_bytes(b"old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    write_atomic(link, lambda stream: stream.write(b"new"))
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_bytes() == b"new"
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(tmp_path / "made.json")
    write_atomic(dangling, lambda stream: stream.write(b"made"))
    assert dangling.is_symlink() and (tmp_path / "made.json").read_bytes() == b"made"


def test_a_symlink_to_a_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "dir")
    with pytest.raises(OutputError, match="is a directory"):
        write_atomic(tmp_path / "link", lambda stream: stream.write(b"x"))


def test_dash_is_standard_output() -> None:
    script = (
        "from memspy.collectors.output import write_atomic; "
        "write_atomic('-', lambda stream: stream.write(b'to stdout'))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"to stdout", b"")
