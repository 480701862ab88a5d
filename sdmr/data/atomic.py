"""Atomic file writes: a crash or a bad input never leaves a half-written file behind."""

from __future__ import annotations

import io
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image


def _default_file_mode() -> int:
    """0o666 minus the process umask: what ``open(path, "w")`` would give (mkstemp gives 0o600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_FILE_MODE = _default_file_mode()
#: ``.{name}.XXXXXXXX.tmp``: the temporary name `atomic_write_bytes` writes before its rename.
TEMP_FILE_RE = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp$")


def is_temp_file(path: str | Path) -> bool:
    """True for the temporary file of an atomic write (a leftover one means the writer was killed)."""
    return TEMP_FILE_RE.match(Path(path).name) is not None


def find_temp_files(root: str | Path) -> list[Path]:
    """Every atomic-write temporary file under ``root``, sorted (none are left by a finished write)."""
    found = []
    for folder, _, names in os.walk(root):
        found += [Path(folder) / n for n in names if TEMP_FILE_RE.match(n)]
    return sorted(found)


def remove_temp_files(root: str | Path) -> list[Path]:
    """Delete the orphaned temp files under ``root``; call it only while holding the folder's
    `sdmr.data.lock.FolderLock`, so no live writer's temp file is taken. Returns what was removed."""
    removed = []
    for path in find_temp_files(root):
        try:
            path.unlink()
            removed.append(path)
        except FileNotFoundError:
            pass
    return removed


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_with(path: str | Path, writer: Callable[[io.BytesIO], None]) -> None:
    """Encode into memory with ``writer(buffer)`` first, so an encoding error writes nothing."""
    buffer = io.BytesIO()
    writer(buffer)
    atomic_write_bytes(path, buffer.getvalue())


def atomic_save_npy(path: str | Path, array: np.ndarray) -> None:
    atomic_write_with(path, lambda buf: np.save(buf, array, allow_pickle=False))


def png_bytes(pixels: np.ndarray) -> bytes:
    """``pixels`` (uint8/uint16 H×W, uint8 H×W×3/4) encoded as a PNG, in memory."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def atomic_write_png(path: str | Path, pixels: np.ndarray) -> None:
    """The one PNG writer: encode in memory, then rename into place (see `atomic_write_bytes`)."""
    atomic_write_bytes(path, png_bytes(pixels))
