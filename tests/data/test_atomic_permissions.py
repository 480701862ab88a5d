"""Atomic writes must not leave dataset files readable by their owner only (mkstemp's 0600)."""

from __future__ import annotations

import os

from sdmr.data.atomic import _FILE_MODE, atomic_write_text


def test_atomic_writes_get_the_umask_mode_not_0600(tmp_path):
    path = tmp_path / "x.json"
    atomic_write_text(path, "{}")
    assert path.read_text() == "{}"
    assert path.stat().st_mode & 0o777 == _FILE_MODE
    umask = os.umask(0)
    os.umask(umask)
    assert _FILE_MODE == 0o666 & ~umask
    assert _FILE_MODE & 0o044 or umask & 0o044  # group/other read unless the user's umask forbids it
