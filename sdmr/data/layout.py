"""Names and small codecs of the WISDOM-compatible folder layout, shared by writer, reader and checker.

One place for the folder names, the ``image_{i:06d}`` file naming, index files, the
instance-label PNG and the packed amodal ``.npz``, so the writer and every reader agree
byte for byte.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from sdmr.data.atomic import png_bytes  # noqa: F401 (the writer's codec, here with the others)
from sdmr.data.depth_io import open_png
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
RUN_CONFIG = "generate_config.json"  # sdmr-generate's settings, written before its first image
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


# ------------------------------------------------------------------ names read from data files
UNSAFE_PATH_PROBLEM = "points outside the dataset folder"


def resolve_inside(root: str | Path, name: object, source: str | Path | None, what: str = "file name") -> Path:
    """``root / name`` for a ``name`` read from a data file (COCO ``file_name``, a manifest entry),
    refused when it is not a plain relative name or could leave ``root`` (``..``, an absolute path).

    The test is on the name itself (lexical): a symlink the dataset's owner placed inside ``root``
    still works, but no file can steer a reader outside the folder it was given."""
    root = Path(root)
    if not isinstance(name, str) or not name.strip() or "\x00" in name:
        raise DataError(
            f"{what} {name!r} is not a file name", source, "store a path relative to the dataset folder"
        )
    normal = os.path.normpath(name)
    if os.path.isabs(name) or normal == ".." or normal.startswith(".." + os.sep):
        raise DataError(
            f"{what} {name!r} {UNSAFE_PATH_PROBLEM} {root}",
            source,
            f"store names relative to {root} without '..' or a leading '/' (move the files into it)",
        )
    return root / normal


#: Folders whose files a dataset reads (ours, WISDOM raw, OCID) and files at its root that say what it is.
DATA_FOLDERS = (
    DEPTH_DIR, DEPTH_NUMPY_DIR, MODAL_DIR, AMODAL_DIR, COLOR_DIR, BIN_DIR, META_DIR,
    "images", "modal_masks", "semantic_masks", "depth", "label", "rgb",
)  # fmt: skip
RESERVED_FILES = (
    MANIFEST, RUN_CONFIG, INTRINSICS_FILE, "train_indices.npy", "test_indices.npy", "metadata.json",
)  # fmt: skip


def _is_coco_json(path: Path) -> bool:
    try:
        data = load_json_object(path, "JSON file", "", "")
    except DataError:
        return False
    return isinstance(data.get("images"), list) and isinstance(data.get("annotations"), list)


def refuse_dataset_file(
    out: str | Path,
    dataset_root: str | Path,
    argument: str,
    inputs: tuple[str | Path | None, ...] = (),
    may_replace: Callable[[Path], bool] | None = None,
) -> Path:
    """``out`` if writing it cannot replace a file of the dataset at ``dataset_root``; else a DataError
    naming ``argument``. Refused: a folder; one of ``inputs`` (what is being read); a file the
    layout reserves (``manifest.json``, split files, ...); anything in an image folder; any other
    existing file inside the dataset unless ``may_replace(out)`` (default: it is a COCO JSON, i.e. a
    previous export)."""
    out = Path(out)
    if out.is_dir():
        raise DataError(f"{argument} is a folder", out, f"pass a file path for {argument}")
    target = out.resolve()
    root = Path(dataset_root).resolve()
    base = root if root.is_dir() else root.parent
    fix = f"write {argument} outside the dataset's own files, e.g. {base / 'export.json'} or another folder"
    for source in (*inputs, root if root.is_file() else None):
        if source is not None and target == Path(source).resolve():
            raise DataError(f"{argument} is the file being read", out, fix)
    try:
        parts = target.relative_to(base).parts
    except ValueError:
        return out
    if len(parts) == 1 and parts[0] in RESERVED_FILES:
        raise DataError(f"{argument} would replace the dataset's {parts[0]} in {base}", out, fix)
    if any(part in DATA_FOLDERS for part in parts[:-1]):
        raise DataError(f"{argument} would write into the dataset's image folders in {base}", out, fix)
    if out.is_file() and not (may_replace or _is_coco_json)(out):
        raise DataError(f"{argument} would replace a file of the dataset in {base}", out, fix)
    return out


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
    values = load_array_file(
        path, "index file", "write it with np.save, or read every image (--split all; split=None in Python)"
    )
    return check_index_array(values, path)


# ------------------------------------------------------------------ codecs
def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def label_pixels(label: np.ndarray, num_instances: int) -> np.ndarray:
    """The stored label image: uint8 when the ids fit (readable by every tool), else uint16."""
    return label.astype(np.uint8) if num_instances <= 255 else label.astype(np.uint16)


def read_label_png(path: Path) -> np.ndarray:
    """An instance-id image as a 2-D integer array (3-channel copies of one id image accepted)."""
    raw = open_png(path)
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
    raw = open_png(path)
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
