"""`FolderLock`: one writer per output folder, enforced by the kernel.

A lock file (``.sdmr.lock``) in the folder is locked with ``fcntl.flock``. The kernel drops
the lock when the holder's process ends in any way (exit, crash, SIGKILL), so a killed run
never leaves a folder locked; the file itself is only a name to lock and a note of the
holder's pid. A second writer is refused at once, with the folder and the holder's pid.

Usage (sdmr-generate and merge use it; bench and segment can too)::

    with FolderLock(output, "sdmr-generate"):
        ...write into output...
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path
from typing import Self

from sdmr.data.errors import DataError

LOCK_NAME = ".sdmr.lock"


def _read_holder(path: Path) -> str:
    try:
        text = path.read_text(errors="replace").split()
    except OSError:
        return "unknown"
    return text[0] if text and text[0].isdigit() else "unknown"


class FolderLock:
    """An exclusive, non-blocking lock on ``folder`` (created if ``create``) for one writing process."""

    def __init__(self, folder: str | Path, purpose: str = "writing", create: bool = True) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.purpose = purpose
        self.create = create
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> Self:
        if self._fd is not None:
            return self
        if self.folder.exists() and not self.folder.is_dir():
            raise DataError("is a file, not a folder", self.folder, "pass a folder path for the output")
        if self.create:
            self.folder.mkdir(parents=True, exist_ok=True)
        elif not self.folder.is_dir():
            raise DataError("folder not found", self.folder, "pass an existing folder")
        for _ in range(20):  # the file may be replaced between open and flock: then lock the new one
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                os.close(fd)
                if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                pid = _read_holder(self.path)
                raise DataError(
                    f"another process (pid {pid}) is writing to this folder",
                    self.folder,
                    f"wait for it to finish, or stop it (kill {pid}) if it is stuck, or use another output "
                    "folder; the lock is released as soon as that process ends",
                ) from None
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # the previous holder removed it while we waited: retry on the current file
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n{self.purpose}\n".encode())
            self._fd = fd
            return self
        raise DataError("could not lock the folder (the lock file keeps changing)", self.folder, "retry")

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if os.stat(self.path).st_ino == os.fstat(fd).st_ino:
                os.unlink(self.path)  # still locked by us, so nobody else can be holding it
        except FileNotFoundError:
            pass
        finally:
            os.close(fd)  # releases the flock

    def __enter__(self) -> Self:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_holder(folder: str | Path) -> str | None:
    """The pid (as text, or "unknown") of a live process holding ``folder``'s lock, else None.

    Read-only: never creates the lock file, so checking a dataset leaves it as it is.
    """
    path = Path(folder) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return _read_holder(path)
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
