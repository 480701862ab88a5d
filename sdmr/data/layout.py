"""Names and small codecs of the WISDOM-compatible folder layout, shared by writer, reader and checker.

One place for the folder names, the ``image_{i:06d}`` file naming, index files, the
instance-label PNG and the packed amodal ``.npz``, so the writer and every reader agree
byte for byte.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from sdmr.data.depth_io import _open_png
from sdmr.data.errors import DataError
from sdmr.data.safe_load import load_array_file, load_json_object

DEPTH_DIR = "depth_ims"
DEPTH_NUMPY_DIR = "depth_ims_numpy"
MODAL_DIR = "modal_segmasks"
AMODAL_DIR = "amodal_masks"
COLOR_DIR = "color_ims"
BIN_DIR = "segmasks_filled"
META_DIR = "image_meta"
MANIFEST = "manifest.json"
INTRINSICS_FILE = "camera_intrinsics.intr"
SPLITS = ("train", "test")
FORMAT_NAME = "sdmr"
FORMAT_VERSION = 1

_IMAGE_RE = re.compile(r"^image_(\d+)$")


def image_name(index: int, ext: str = "") -> str:
    """``image_000042`` + ext: the WISDOM per-image file name."""
    return f"image_{int(index):06d}{ext}"


def index_file(root: Path, split: str) -> Path:
    return Path(root) / f"{split}_indices.npy"


def parse_image_index(path: Path) -> int | None:
    """Image index of ``image_000042.png`` (or a folder ``image_000042``); None for other names."""
    match = _IMAGE_RE.match(path.name.split(".", 1)[0])
    return int(match.group(1)) if match else None


def indices_in(folder: Path, suffixes: tuple[str, ...] | None) -> set[int]:
    """Indices of ``image_*`` entries in ``folder`` (files with one of ``suffixes``, or folders if None)."""
    if not folder.is_dir():
        return set()
    found: set[int] = set()
    for entry in folder.iterdir():
        if entry.name.startswith("."):
            continue  # temp files of atomic writes
        if suffixes is None and not entry.is_dir():
            continue
        if suffixes is not None and entry.suffix not in suffixes:
            continue
        index = parse_image_index(entry)
        if index is not None:
            found.add(index)
    return found


# ------------------------------------------------------------------ index files
def check_index_array(values: object, source: str | Path | None, what: str = "indices") -> np.ndarray:
    """A 1-D array of distinct non-negative ints, or a DataError saying what is wrong."""
    array = np.asarray(values)
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        if array.ndim == 1 and np.issubdtype(array.dtype, np.floating) and np.all(array == np.round(array)):
            array = array.astype(np.int64)
        else:
            raise DataError(
                f"{what} must be a 1-D integer array, got {array.dtype} {array.shape}",
                source,
                "save image numbers with np.save(path, np.asarray(indices, dtype=np.int64))",
            )
    array = array.astype(np.int64)
    if (array < 0).any():
        raise DataError(f"{what} contain negative numbers", source, "image indices start at 0")
    values_, counts = np.unique(array, return_counts=True)
    if (counts > 1).any():
        dup = values_[counts > 1][:5].tolist()
        raise DataError(f"{what} list images more than once: {dup}", source, "remove the duplicates")
    return array


def load_index_file(path: Path) -> np.ndarray:
    values = load_array_file(path, "index file", "write it with np.save or pass split=None")
    return check_index_array(values, path)


# ------------------------------------------------------------------ codecs
def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def label_pixels(label: np.ndarray, num_instances: int) -> np.ndarray:
    """The stored label image: uint8 when the ids fit (readable by every tool), else uint16."""
    return label.astype(np.uint8) if num_instances <= 255 else label.astype(np.uint16)


def read_label_png(path: Path) -> np.ndarray:
    """An instance-id image as a 2-D integer array (3-channel copies of one id image accepted)."""
    raw = _open_png(path)
    if raw.ndim == 3:
        if raw.shape[2] >= 3 and not (
            np.array_equal(raw[..., 0], raw[..., 1]) and np.array_equal(raw[..., 0], raw[..., 2])
        ):
            raise DataError(
                "label image has different colour channels",
                path,
                "store instance ids in one channel (0 = background, k = instance k)",
            )
        raw = raw[..., 0]
    if not np.issubdtype(raw.dtype, np.integer):
        raise DataError(f"label image must hold integers, got {raw.dtype}", path, "save ids as uint8/uint16")
    return raw


def read_binary_png(path: Path) -> np.ndarray:
    """A bool mask from a 0/255 (or 0/1) PNG; 3-channel images use the first channel."""
    raw = _open_png(path)
    if raw.ndim == 3:
        raw = raw[..., 0]
    return raw > 0


def amodal_bytes(amodal: np.ndarray) -> bytes:
    """An ``.npz`` of packed masks whose bytes depend only on the masks.

    ``np.savez_compressed`` stamps every member with the current time; fixed zip
    timestamps keep regenerated datasets byte-identical.
    """
    buffer = io.BytesIO()
    members = {"masks": np.packbits(amodal.reshape(-1)), "shape": np.asarray(amodal.shape, dtype=np.int64)}
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in members.items():
            member = io.BytesIO()
            np.save(member, array, allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, member.getvalue())
    return buffer.getvalue()


def read_amodal(path: Path) -> np.ndarray:
    """The bool N×H×W amodal masks of an ``.npz`` written by `amodal_bytes`."""
    data = load_array_file(path, "amodal mask file", "pass load_amodal=False or regenerate the image")
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise DataError("cannot read amodal masks: a single array, not an .npz", path, "regenerate the image")
    try:
        with data:
            packed, shape = data["masks"], tuple(int(s) for s in data["shape"])
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as err:
        raise DataError(
            f"cannot read amodal masks ({err})", path, "the file is corrupt: regenerate it"
        ) from err
    count = int(np.prod(shape))
    if len(shape) != 3 or packed.size * 8 < count:
        raise DataError(f"amodal masks have a bad shape {shape}", path, "regenerate the image")
    return np.unpackbits(packed, count=count).reshape(shape).astype(bool)


def read_json(path: Path) -> dict:
    return load_json_object(path, "JSON file", "check the dataset folder", "the file is corrupt: regenerate it")
