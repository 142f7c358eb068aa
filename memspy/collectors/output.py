"""Writing a profile so that a reader never sees half of it, and nothing else is harmed.

A long recording must not end with a truncated file, nor destroy the previous profile of
the same name, when the disk fills or memspy is interrupted: a regular file is written to
a temporary file beside it and renamed over it only once complete and synced. That rename
would replace whatever is at the path, so it is kept for regular files and new paths:
a device, FIFO or terminal (``/dev/null``, ``/dev/stdout``, a named pipe) is written
straight into, ``-`` means standard output, and a symlink is followed to the file it
names, which is the one replaced. Under sudo a new file is handed to the invoking user,
who would otherwise need root to delete their own profile.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable, Optional, Union

from memspy.errors import OutputError

PathLike = Union[str, "os.PathLike[str]"]
STDOUT = "-"

_FULL = {errno.ENOSPC: "the disk is full", errno.EFBIG: "the file is too large"}
if hasattr(errno, "EDQUOT"):
    _FULL[errno.EDQUOT] = "the disk quota is exceeded"


def _directory_of(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def _status(path: PathLike) -> Optional[os.stat_result]:
    """What is at ``path`` once symlinks are followed; None when nothing is."""
    try:
        return os.stat(path)
    except OSError:
        return None


def is_stream(path: PathLike) -> bool:
    """A path that is written into as it is (standard output, a device, a FIFO)."""
    if str(path) == STDOUT:
        return True
    status = _status(path)
    return status is not None and not stat.S_ISREG(status.st_mode) and not stat.S_ISDIR(
        status.st_mode
    )


def _file_behind(path: PathLike) -> Path:
    """The regular file a path names: a symlink (even a dangling one) is followed."""
    return Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)


def check_writable(path: PathLike) -> None:
    """Fail before sampling starts, not after an hour of it, when ``path`` cannot be written."""
    if is_stream(path):
        if str(path) != STDOUT and not os.access(path, os.W_OK):
            raise OutputError(f"cannot write {path}: permission denied",
                              hint="choose another output path")
        return
    target = _file_behind(path)
    directory = _directory_of(target)
    if target.is_dir():
        raise OutputError(f"{path} is a directory", hint="give a file name for the profile")
    if not directory.is_dir():
        problem = "is not a directory" if directory.exists() else "does not exist"
        raise OutputError(
            f"cannot write {path}: {directory} {problem}",
            hint="create the directory first, or choose another output path",
        )
    try:
        probe, probe_path = tempfile.mkstemp(
            dir=directory, prefix=f".{target.name}.", suffix=".tmp"
        )
    except OSError as error:
        raise OutputError(
            f"cannot write {path}: {directory} does not take new files ({error.strerror})",
            hint="choose an output path in a writable directory",
        ) from error
    os.close(probe)
    os.unlink(probe_path)


def _mode_for(target: Path) -> int:
    """Keep an existing file's permissions; a new file gets the usual 0666 minus umask."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _give_to_sudo_user(fd: int) -> None:
    uid, gid = os.environ.get("SUDO_UID"), os.environ.get("SUDO_GID")
    if os.geteuid() == 0 and uid and gid and uid.isdigit() and gid.isdigit():
        os.fchown(fd, int(uid), int(gid))


def _output_error(path: PathLike, error: OSError, nothing_written: bool) -> OutputError:
    left = "nothing was written" if nothing_written else "the output is incomplete"
    if error.errno in _FULL:
        return OutputError(
            f"cannot write {path}: {_FULL[error.errno]}",
            hint=f"free some space or choose another output path; {left}",
        )
    return OutputError(
        f"cannot write {path}: {error.strerror or error}", hint=f"check the output path; {left}"
    )


def write_atomic(path: PathLike, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write`` on a temporary file and put it in place at ``path`` when it returns.

    On any exception the temporary file is removed and an existing ``path`` is untouched.
    A stream (see the module's docstring) has no "in place": it gets the bytes directly.
    """
    check_writable(path)
    if is_stream(path):
        _write_stream(path, write)
        return
    target = _file_behind(path)
    fd, temporary = tempfile.mkstemp(
        dir=_directory_of(target), prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "wb") as stream:
            write(stream)
            stream.flush()
            os.fchmod(stream.fileno(), _mode_for(target))
            _give_to_sudo_user(stream.fileno())
            os.fsync(stream.fileno())
        os.replace(temporary, target)
        _sync_directory(_directory_of(target))
    except OSError as error:
        _remove(temporary)
        raise _output_error(path, error, nothing_written=True) from error
    except BaseException:
        _remove(temporary)
        raise


def _write_stream(path: PathLike, write: Callable[[BinaryIO], None]) -> None:
    try:
        if str(path) == STDOUT:
            write(sys.stdout.buffer)
            sys.stdout.buffer.flush()
            return
        with open(path, "wb") as stream:
            write(stream)
    except BrokenPipeError:
        raise
    except OSError as error:
        raise _output_error(path, error, nothing_written=False) from error


def _sync_directory(directory: Path) -> None:
    """Make the rename itself survive a crash."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(temporary: str) -> None:
    try:
        os.unlink(temporary)
    except FileNotFoundError:
        pass
