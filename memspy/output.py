"""Writing a profile so that a reader never sees half of it.

A long recording must not end with a truncated file, nor destroy the previous profile of
the same name, when the disk fills or memspy is interrupted: the profile goes to a
temporary file beside the target and is renamed over it only once complete and synced.
Under sudo the file is handed to the invoking user, who would otherwise need root to
delete their own profile.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable, Union

from memspy.errors import OutputError

PathLike = Union[str, "os.PathLike[str]"]

_FULL = {errno.ENOSPC: "the disk is full", errno.EFBIG: "the file is too large"}
if hasattr(errno, "EDQUOT"):
    _FULL[errno.EDQUOT] = "the disk quota is exceeded"


def _directory_of(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def check_writable(path: PathLike) -> None:
    """Fail before sampling starts, not after an hour of it, when ``path`` cannot be written."""
    target = Path(path)
    directory = _directory_of(target)
    if target.is_dir():
        raise OutputError(f"{target} is a directory", hint="give a file name for the profile")
    if not directory.is_dir():
        problem = "is not a directory" if directory.exists() else "does not exist"
        raise OutputError(
            f"cannot write {target}: {directory} {problem}",
            hint="create the directory first, or choose another output path",
        )
    try:
        probe, probe_path = tempfile.mkstemp(
            dir=directory, prefix=f".{target.name}.", suffix=".tmp"
        )
    except OSError as error:
        raise OutputError(
            f"cannot write in {directory}: {error.strerror}",
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


def write_atomic(path: PathLike, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write`` on a temporary file and put it in place at ``path`` when it returns.

    On any exception the temporary file is removed and an existing ``path`` is untouched.
    """
    target = Path(path)
    check_writable(target)
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
        if error.errno in _FULL:
            raise OutputError(
                f"cannot write {target}: {_FULL[error.errno]}",
                hint="free some space or choose another output path; nothing was written",
            ) from error
        raise OutputError(
            f"cannot write {target}: {error.strerror or error}",
            hint="check the output path; nothing was written",
        ) from error
    except BaseException:
        _remove(temporary)
        raise


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
