"""Depth files ↔ float32 metres. The on-disk encoding is always named, never guessed.

Encodings:

* ``wisdom8``  – the original project's 8-bit PNG (1 or 3 identical channels), 0.25–1.25 m
  linearly mapped to 0–255. Lossy (3.9 mm steps) and it cannot mark invalid pixels.
* ``mm16``     – 16-bit PNG in millimetres, 0 = invalid (Kinect/RealSense/OCID convention).
* ``npy``      – ``.npy`` float metres, or ``.npz`` with a ``depth`` array (lossless).
* ``tiff``     – single-channel 32-bit float TIFF in metres (what many SDKs and OpenCV write);
  0 or NaN = invalid. A 16-bit millimetre TIFF is ``mm16`` (any 16-bit image PIL reads).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, UnidentifiedImageError

from sdmr.data.atomic import atomic_save_npy, atomic_write_png, atomic_write_with
from sdmr.data.errors import DataError
from sdmr.data.safe_load import load_array_file

DepthFileEncoding = Literal["wisdom8", "mm16", "npy", "tiff"]
DEPTH_FILE_ENCODINGS: tuple[str, ...] = ("wisdom8", "mm16", "npy", "tiff")
#: File names each encoding's files have (how a folder of them is listed; never a pixel test).
DEPTH_FILE_PATTERNS: dict[str, tuple[str, ...]] = {
    "wisdom8": ("*.png",),
    "mm16": ("*.png",),
    "npy": ("*.npy", "*.npz"),
    "tiff": ("*.tif", "*.tiff"),
}
WISDOM_MIN_DEPTH = 0.25
WISDOM_MAX_DEPTH = 1.25


def check_encoding(encoding: str, source: str | Path | None = None) -> str:
    """``encoding`` if it is a known depth file encoding; ``source`` names the file or dataset it is for."""
    if encoding not in DEPTH_FILE_ENCODINGS:
        raise DataError(
            f"unknown depth encoding '{encoding}'",
            source,
            fix=f"use one of {', '.join(DEPTH_FILE_ENCODINGS)}",
        )
    return encoding


def validate_depth(depth: np.ndarray, source: str | Path | None = None) -> np.ndarray:
    """Check the contract (finite-or-NaN float H×W metres, no negatives) and return float32.

    NaN and 0 both mean "no measurement"; +/-inf and negative depth are errors.
    """
    depth = np.asarray(depth)
    if depth.ndim != 2:
        raise DataError(
            f"depth must be a single-channel H×W array, got shape {depth.shape}",
            source,
            "pass one channel (e.g. depth[..., 0]) in metres",
        )
    if not np.issubdtype(depth.dtype, np.floating):
        raise DataError(
            f"depth must be float metres, got {depth.dtype}",
            source,
            "decode the file with sdmr.data.read_depth(path, encoding=...) (16-bit millimetre "
            "images: --depth-encoding mm16)",
        )
    depth = depth.astype(np.float32, copy=False)
    if np.isinf(depth).any():
        raise DataError("depth contains ±inf", source, "mark missing measurements with 0 or NaN")
    if (depth < 0).any():
        raise DataError("depth contains negative values", source, "depth is a distance in metres ≥ 0")
    if not np.any(np.nan_to_num(depth) > 0):
        raise DataError(
            "depth has no valid pixel (all 0 or NaN)", source, "check the sensor file and its encoding"
        )
    return depth


def open_png(path: Path) -> np.ndarray:
    """The pixels of an image file PIL reads (PNG, TIFF) as an array; a missing or corrupt file is a DataError."""
    if not path.is_file():
        raise DataError("file not found", path, "check the dataset folder and its index files")
    try:
        with Image.open(path) as image:
            image.load()
            return np.asarray(image)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise DataError(
            f"cannot decode image ({err})", path, "the file is corrupt or truncated: regenerate or re-copy it"
        ) from err


_MAGIC = ((b"\x93NUMPY", "npy"), (b"PK\x03\x04", "npy"), (b"\x89PNG", "image"), (b"II*\x00", "image"),
          (b"MM\x00*", "image"))  # fmt: skip


def _file_kind(path: Path) -> str | None:
    """``"npy"`` (a .npy/.npz), ``"image"`` (PNG/TIFF) or None, from the file's first bytes."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
    except OSError:
        return None
    return next((kind for magic, kind in _MAGIC if head.startswith(magic)), None)


def _is_colour(raw: np.ndarray) -> bool:
    """A 3/4-channel image whose colour channels differ: a colour photo, never depth."""
    return raw.ndim == 3 and raw.shape[2] >= 3 and not (
        np.array_equal(raw[..., 0], raw[..., 1]) and np.array_equal(raw[..., 0], raw[..., 2])
    )


def fitting_encoding(raw: np.ndarray) -> str | None:
    """The depth encoding an image's pixel format fits, or None (a colour image is no depth)."""
    if raw.ndim == 2 and raw.dtype in (np.uint16, np.int32, np.uint32):
        return "mm16"
    if raw.ndim == 2 and np.issubdtype(raw.dtype, np.floating):
        return "tiff"
    if raw.dtype == np.uint8 and (raw.ndim == 2 or (raw.shape[2] >= 3 and not _is_colour(raw))):
        return "wisdom8"
    return None


_KIND = {"mm16": "16-bit millimetre depth", "wisdom8": "8-bit WISDOM depth", "tiff": "float TIFF depth"}


def _wrong_encoding(raw: np.ndarray, encoding: str, path: Path) -> DataError:
    """The file is a readable image, just not in ``encoding``: say which encoding it is in."""
    got = f"{raw.dtype} {raw.shape}"
    problem = (
        f"expected a single-channel float TIFF in metres, got {got} (read as {_KIND[encoding]})"
        if encoding == "tiff"
        else f"{got} image read as {_KIND[encoding]}"
    )
    right = fitting_encoding(raw)
    if right is None:
        return DataError(
            f"{problem}: it is a colour (RGB) image",
            path,
            "this is a colour image, not depth: point at the depth files (e.g. depth/, not rgb/)",
        )
    return DataError(f"{problem}; it looks like {right}", path, f"use --depth-encoding {right}")


def read_depth(path: str | Path, encoding: str) -> np.ndarray:
    """Read a depth file as float32 metres (0 = invalid for PNGs, NaN allowed in npy).

    A readable file in another encoding than ``encoding`` is reported as such, naming the
    encoding that fits (decided from the file's format, never from its depth values)."""
    path = Path(path)
    check_encoding(encoding, path)
    kind = _file_kind(path)
    if encoding == "npy":
        if kind == "image":
            raw = open_png(path)
            right = fitting_encoding(raw)
            raise DataError(
                f"{raw.dtype} {raw.shape} image file read as a numpy (npy) depth file",
                path,
                f"use --depth-encoding {right}" if right else "this is a colour image, not depth: point at the depth files",
            )
        return _read_float_array(path)
    if kind == "npy":
        raise DataError(
            f"numpy file read as a {encoding} depth image",
            path,
            "use --depth-encoding npy (float metres in .npy/.npz)",
        )
    raw = open_png(path)
    if encoding == "tiff":
        if raw.ndim != 2 or not np.issubdtype(raw.dtype, np.floating):
            raise _wrong_encoding(raw, encoding, path)
        return validate_depth(raw, path)
    if encoding == "mm16":
        if raw.ndim != 2 or raw.dtype not in (np.uint16, np.int32, np.uint32):
            raise _wrong_encoding(raw, encoding, path)
        return validate_depth(raw.astype(np.float32) / 1000.0, path)
    if fitting_encoding(raw) != "wisdom8":
        raise _wrong_encoding(raw, encoding, path)
    if raw.ndim == 3:
        raw = raw[..., 0]
    return (WISDOM_MIN_DEPTH + raw.astype(np.float32) / 255.0 * (WISDOM_MAX_DEPTH - WISDOM_MIN_DEPTH)).astype(
        np.float32
    )


def _read_float_array(path: Path) -> np.ndarray:
    loaded = load_array_file(path, "depth file", "check the dataset folder and its index files")
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            if "depth" not in loaded.files:
                raise DataError(
                    f"npz has no 'depth' array (has {loaded.files})", path, "save it as depth=..."
                )
            loaded = loaded["depth"]
    if loaded.ndim == 3 and loaded.shape[-1] == 1:
        loaded = loaded[..., 0]  # WISDOM-Real's depth_ims_numpy stores H×W×1
    return validate_depth(loaded, path)


def encode_depth_png(depth: np.ndarray, encoding: str, path: str | Path | None = None) -> np.ndarray:
    """The pixel array that ``write_depth`` stores for a PNG encoding (invalid → 0); ``path`` is where it goes."""
    check_encoding(encoding, path)
    finite = np.nan_to_num(depth, nan=0.0)
    if encoding == "mm16":
        if finite.max() > 65.535:
            raise DataError(
                "depth above 65.535 m cannot be stored as 16-bit millimetres",
                path,
                "pass depth in metres (millimetre values passed as metres are 1000× too large), or use npy",
            )
        return np.round(finite * 1000.0).astype(np.uint16)
    if encoding == "wisdom8":
        scaled = (finite - WISDOM_MIN_DEPTH) / (WISDOM_MAX_DEPTH - WISDOM_MIN_DEPTH) * 255.0
        gray = np.clip(np.round(scaled), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    raise DataError(f"'{encoding}' is not a PNG depth encoding", path, "use wisdom8 or mm16 for PNG files")


def write_depth(path: str | Path, depth: np.ndarray, encoding: str) -> None:
    """Write float metres in ``encoding``; atomic, so a failure leaves no partial file."""
    path = Path(path)
    depth = validate_depth(depth, path)
    if check_encoding(encoding, path) == "npy":
        atomic_save_npy(path, depth)
        return
    if encoding == "tiff":
        atomic_write_with(path, lambda buf: Image.fromarray(depth).save(buf, format="TIFF"))
        return
    pixels = encode_depth_png(depth, encoding, path)
    atomic_write_png(path, pixels)


def valid_mask(depth: np.ndarray) -> np.ndarray:
    """Pixels holding a measurement (> 0 and not NaN)."""
    return np.nan_to_num(depth, nan=0.0) > 0
