"""`FolderLock`: a real flock held by a real second process, released by the kernel on SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from sdmr.data.errors import DataError
from sdmr.data.lock import LOCK_NAME, FolderLock, lock_holder

_HOLDER = """
import sys, time
from sdmr.data.lock import FolderLock
lock = FolderLock(sys.argv[1], "test holder").acquire()
print("locked", flush=True)
time.sleep(120)
"""


def _start_holder(folder: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(folder)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    line = proc.stdout.readline()
    assert line.strip() == "locked", proc.stderr.read()
    return proc


def test_a_second_writer_is_refused_naming_the_folder_and_pid(tmp_path: Path) -> None:
    proc = _start_holder(tmp_path)
    try:
        assert lock_holder(tmp_path) == str(proc.pid)
        with pytest.raises(DataError, match=f"pid {proc.pid}.*writing to this folder.*Fix:") as err:
            FolderLock(tmp_path).acquire()
        assert str(tmp_path) in str(err.value)
    finally:
        proc.kill()
        proc.wait()


def test_the_lock_is_free_after_the_holder_is_killed(tmp_path: Path) -> None:
    proc = _start_holder(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert (tmp_path / LOCK_NAME).exists()  # the stale file stays, but nobody holds it
    assert lock_holder(tmp_path) is None
    with FolderLock(tmp_path) as lock:
        assert lock.held and lock_holder(tmp_path) == str(os.getpid())
    assert not (tmp_path / LOCK_NAME).exists()  # a clean release leaves nothing behind


def test_lock_is_exclusive_within_one_process_and_reusable_after_release(tmp_path: Path) -> None:
    first = FolderLock(tmp_path / "new" / "out").acquire()  # creates the folder
    with pytest.raises(DataError, match=str(os.getpid())):
        FolderLock(tmp_path / "new" / "out").acquire()
    first.release()
    with FolderLock(tmp_path / "new" / "out"):
        pass


def test_lock_holder_does_not_create_anything(tmp_path: Path) -> None:
    assert lock_holder(tmp_path) is None
    assert list(tmp_path.iterdir()) == []


def test_a_file_is_not_a_folder_to_lock(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(DataError, match="not a folder"):
        FolderLock(tmp_path / "f").acquire()

