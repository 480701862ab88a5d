"""`WisdomDataset`: reads WISDOM-Sim/Real, our own writer's output and the original generator's raw layout.

Three layouts, told apart by their folders (never by pixel values):

* **training** (ours and WISDOM-Sim/Real): ``depth_ims/``, ``depth_ims_numpy/``,
  ``modal_segmasks/`` (one instance-id PNG per image), ``segmasks_filled/`` (bin masks),
  ``color_ims/``, ``train_indices.npy``/``test_indices.npy``; ours adds ``image_meta/``,
  ``amodal_masks/*.npz`` and ``manifest.json``.
* **raw** (the original ``generate_mask_dataset.py`` output): ``images/depth_ims/``,
  ``images/modal_masks/image_i/channel_k.png`` (one 0/255 PNG per object, k from 0),
  ``images/amodal_masks/`` likewise (``images/semantic_masks/`` when the channel folders are
  absent), indices in ``images/`` (or the root), ``metadata.json``.
  A copy without the ``images/`` level (``depth_ims/`` + ``modal_masks/`` at the top) works too.

The depth PNG encoding comes from the argument, else the manifest, else ``wisdom8`` (the
WISDOM format's own definition). ``depth_source="auto"`` prefers the lossless numpy copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from sdmr.data import layout as L
from sdmr.data.depth_io import check_encoding, open_png, read_depth
from sdmr.data.errors import DataError
from sdmr.data.instances import Instances
from sdmr.data.intrinsics import CameraIntrinsics
from sdmr.data.sample import Sample

DepthSource = Literal["auto", "png", "numpy"]
DEPTH_SOURCES = ("auto", "png", "numpy")


def detect_layout(root: Path) -> tuple[str, Path]:
    """``("raw" | "training", folder holding the image folders)`` from the folder structure."""
    if not root.is_dir():
        raise DataError("dataset folder not found", root, "pass the folder that holds depth_ims/")
    if (root / "images" / L.DEPTH_DIR).is_dir():
        return "raw", root / "images"
    if (root / "modal_masks").is_dir() and (root / L.DEPTH_DIR).is_dir():
        return "raw", root
    if (root / L.DEPTH_DIR).is_dir() or (root / L.DEPTH_NUMPY_DIR).is_dir():
        return "training", root
    entries = sorted(p.name for p in root.iterdir())[:8]
    raise DataError(
        f"no WISDOM layout here (no {L.DEPTH_DIR}/ or images/{L.DEPTH_DIR}/; found {entries or 'nothing'})",
        root,
        "point at the dataset root (the folder holding depth_ims/), or use dataset 'folder' for plain depth files",
    )


class WisdomDataset(Sequence):
    """A ``Sequence[Sample]`` (usable as a torch Dataset) over one split of a WISDOM-layout folder.

    ``image_id`` is the file index (``image_000042`` → 42), so results stay traceable to files.
    """

    def __init__(
        self,
        root: str | Path,
        split: str | None = "train",
        depth_source: DepthSource = "auto",
        depth_encoding: str | None = None,
        load_color: bool = False,
        load_amodal: bool = False,
        indices: Sequence[int] | np.ndarray | None = None,
    ) -> None:
        self.root = Path(root)
        self.layout, self.base = detect_layout(self.root)
        if depth_source not in DEPTH_SOURCES:
            raise DataError(
                f"unknown depth_source '{depth_source}'", fix=f"use one of {', '.join(DEPTH_SOURCES)}"
            )
        self.depth_source = depth_source
        self.manifest: dict | None = (
            L.read_json(self.root / L.MANIFEST) if (self.root / L.MANIFEST).is_file() else None
        )
        if depth_encoding is None and self.manifest is not None:
            depth_encoding = self.manifest.get("depth", {}).get("png_encoding")
        self.depth_encoding = check_encoding(depth_encoding or "wisdom8", self.root)
        self.load_color = load_color
        self.load_amodal = load_amodal
        self.split = split
        # written by our writer: per-image meta JSON says how many instances each image has
        # (decided once here, not by a folder lookup on every read)
        self.is_sdmr = self.layout == "training" and (self.root / L.META_DIR).is_dir()
        self.available = self._available_images()
        self.indices = self._select(split, indices)
        intr_path = next(
            (p for p in (self.root / L.INTRINSICS_FILE, self.base / L.INTRINSICS_FILE) if p.is_file()), None
        )
        self.default_intrinsics = CameraIntrinsics.load(intr_path) if intr_path is not None else None

    # ------------------------------------------------------------------ indices
    def _available_images(self) -> set[int]:
        if self.is_sdmr:
            found = L.indices_in(self.root / L.META_DIR, (".json",))  # complete images only
        else:
            found = L.indices_in(self.base / L.DEPTH_DIR, (".png", ".npy", ".npz")) | L.indices_in(
                self.base / L.DEPTH_NUMPY_DIR, (".npy", ".npz")
            )
        if not found:
            raise DataError(
                f"no image_XXXXXX depth files in {self.base / L.DEPTH_DIR}",
                self.root,
                "check the path; depth files are named image_000000.png (or .npy)",
            )
        return found

    def index_path(self, split: str) -> Path:
        """Where the split's index file is (the raw layout keeps them in images/)."""
        candidates = [L.index_file(self.root, split), L.index_file(self.base, split)]
        return next((p for p in candidates if p.is_file()), candidates[0])

    def _select(self, split: str | None, indices: Sequence[int] | np.ndarray | None) -> np.ndarray:
        if indices is not None:
            chosen, source = L.check_index_array(indices, None, "indices"), None
        elif split is None or split == "all":
            return np.asarray(sorted(self.available), dtype=np.int64)
        else:
            source = self.index_path(split)
            if not source.is_file():
                raise DataError(
                    f"no index file for split '{split}'",
                    source,
                    f"write {source.name} (np.save of image numbers), or read all {len(self.available)} "
                    "images found with --split all (split=None in Python)",
                )
            chosen = L.load_index_file(source)
        unknown = [int(i) for i in chosen if int(i) not in self.available]
        if unknown:
            raise DataError(
                f"{len(unknown)} indices name images that do not exist (e.g. {unknown[:5]}; "
                f"images found: {min(self.available)}..{max(self.available)}, {len(self.available)} in all)",
                source or self.root,
                "regenerate the index file, or finish/complete the missing images",
            )
        return chosen

    # ------------------------------------------------------------------ reading
    def __len__(self) -> int:
        return int(self.indices.size)

    def __getitem__(self, position: int) -> Sample:  # type: ignore[override]
        if not -len(self) <= position < len(self):
            raise IndexError(f"position {position} out of range for {len(self)} images")
        return self.read(int(self.indices[position]))

    def depth_path(self, index: int) -> tuple[Path, str]:
        """The file the depth of image ``index`` is read from, and its encoding."""
        numpy_path = self.base / L.DEPTH_NUMPY_DIR / L.image_name(index, ".npy")
        png_path = self.base / L.DEPTH_DIR / L.image_name(index, ".png")
        npy_in_depth = self.base / L.DEPTH_DIR / L.image_name(index, ".npy")
        if self.depth_source == "numpy" or (self.depth_source == "auto" and numpy_path.is_file()):
            return numpy_path, "npy"
        if not png_path.is_file() and npy_in_depth.is_file():
            return npy_in_depth, "npy"
        return png_path, self.depth_encoding

    def read(self, index: int) -> Sample:
        """The sample of image ``index`` (a file number, not a position in the split)."""
        path, encoding = self.depth_path(index)
        depth = read_depth(path, encoding)
        meta_path = self.root / L.META_DIR / L.image_name(index, ".json")
        meta = L.read_json(meta_path) if self.is_sdmr else {}
        sample: Sample = {
            "depth": depth,
            "instances": self._instances(index, depth.shape, meta),
            "intrinsics": CameraIntrinsics.from_dict(meta["intrinsics"], meta_path)
            if meta.get("intrinsics")
            else self.default_intrinsics,
            "image_id": index,
            "name": L.image_name(index),
        }
        bin_path = self.base / L.BIN_DIR / L.image_name(index, ".png")
        if bin_path.is_file():
            sample["bin_mask"] = self._same_size(L.read_binary_png(bin_path), depth.shape, bin_path)
        if self.load_color:
            sample["color"] = self._color(index, depth.shape)
        return sample

    @staticmethod
    def _same_size(array: np.ndarray, shape: tuple[int, ...], path: Path) -> np.ndarray:
        if array.shape[:2] != tuple(shape):
            raise DataError(
                f"size {array.shape[0]}×{array.shape[1]} differs from the depth image's {shape[0]}×{shape[1]}",
                path,
                "regenerate the file at the depth image's resolution",
            )
        return array

    def _color(self, index: int, shape: tuple[int, ...]) -> np.ndarray:
        path = self.base / L.COLOR_DIR / L.image_name(index, ".png")
        if not path.is_file():
            raise DataError("colour image not found", path, "pass load_color=False or add color_ims/")
        color = self._same_size(open_png(path), shape, path)
        if color.ndim == 2:
            color = np.repeat(color[..., None], 3, axis=2)
        if color.dtype != np.uint8:
            raise DataError(f"colour image must be 8-bit, got {color.dtype}", path, "save it as 8-bit RGB")
        return np.ascontiguousarray(color[..., :3])

    def _instances(self, index: int, shape: tuple[int, ...], meta: dict) -> Instances | None:
        if self.layout == "raw":
            return self._raw_instances(index, shape)
        label_path = self.root / L.MODAL_DIR / L.image_name(index, ".png")
        if self.is_sdmr and meta.get("num_instances") is None:
            return None  # written without labels
        if not label_path.is_file():
            if self.is_sdmr:
                raise DataError("modal mask image not found", label_path, "regenerate the image")
            return None  # an unlabelled WISDOM-style folder
        label = self._same_size(L.read_label_png(label_path), shape, label_path)
        if not self.is_sdmr:
            # WISDOM-Real/Sim: ids 1..max, absent ids skipped (as the original loader does)
            return Instances.from_label_image(label)
        count = int(meta["num_instances"])
        if label.max() > count:
            raise DataError(
                f"label image holds id {int(label.max())} but the meta lists {count} instances",
                label_path,
                "regenerate the image (label ids must be 1..num_instances)",
            )
        masks = np.stack([label == k for k in range(1, count + 1)]) if count else np.zeros((0, *shape), bool)
        empty = np.flatnonzero(masks.sum(axis=(1, 2)) == 0)
        if empty.size:
            raise DataError(
                f"instances {(empty + 1).tolist()} are listed but have no pixel",
                label_path,
                "regenerate the image",
            )
        amodal = None
        if self.load_amodal and meta.get("has_amodal"):
            amodal_path = self.root / L.AMODAL_DIR / L.image_name(index, ".npz")
            amodal = L.read_amodal(amodal_path)
            if amodal.shape != masks.shape:
                raise DataError(
                    f"amodal masks are {amodal.shape}, modal masks {masks.shape}",
                    amodal_path,
                    "regenerate the image",
                )
        ids = meta.get("object_ids")
        return Instances(masks=masks, amodal=amodal, object_ids=None if ids is None else np.asarray(ids))

    def _raw_instances(self, index: int, shape: tuple[int, ...]) -> Instances | None:
        modal_dir = self.base / "modal_masks" / L.image_name(index)
        if not modal_dir.is_dir():
            semantic = self.base / "semantic_masks" / L.image_name(index, ".png")  # stacked ids 1..N
            if not semantic.is_file():
                return None
            return Instances.from_label_image(self._same_size(L.read_label_png(semantic), shape, semantic))
        channels = sorted(p for p in modal_dir.glob("channel_*.png"))
        masks = [self._same_size(L.read_binary_png(p), shape, p) for p in channels]
        amodal = None
        if self.load_amodal:
            amodal_dir = self.base / "amodal_masks" / L.image_name(index)
            amodal_list = [
                self._same_size(L.read_binary_png(amodal_dir / p.name), shape, amodal_dir / p.name)
                for p in channels
            ]
            amodal = np.stack(amodal_list) if amodal_list else np.zeros((0, *shape), bool)
        ids = np.asarray([int(p.stem.split("_")[1]) for p in channels], dtype=np.int64)
        stacked = np.stack(masks) if masks else np.zeros((0, *shape), bool)
        keep = stacked.any(axis=(1, 2))  # fully occluded objects have empty channels
        amodal_kept = None if amodal is None else amodal[keep]
        return Instances(masks=stacked[keep], amodal=amodal_kept, object_ids=ids[keep])
