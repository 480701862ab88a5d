"""Load a `.npy`/`.npz` or JSON file, turning every failure into a `DataError` that names it.

One place for the "missing / corrupt / wrong kind" handling that depth files, index files,
image metadata and camera files all need.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from sdmr.data.errors import DataError


def load_array_file(path: Path, what: str, missing_fix: str) -> Any:
    """``np.load`` without pickles; returns an array or an open ``NpzFile``."""
    if not path.is_file():
        raise DataError(f"{what} not found", path, missing_fix)
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise DataError(f"cannot read {what} ({err})", path, "the file is corrupt: rewrite it") from err


def load_json_object(path: Path, what: str, missing_fix: str, corrupt_fix: str) -> dict:
    """A JSON file that must hold an object."""
    if not path.is_file():
        raise DataError(f"{what} not found", path, missing_fix)
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"{what} is not valid JSON ({err})", path, corrupt_fix) from err
    if not isinstance(data, dict):
        raise DataError(f"{what} must be a JSON object", path, corrupt_fix)
    return data
