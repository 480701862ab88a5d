"""`DatasetWriter`: Samples → the WISDOM-compatible folder layout, resumably and atomically.

Why this shape: generation runs for hours and may be killed at any moment. Each file is
written to a temporary name and renamed, and an image's ``image_meta/*.json`` is written
last, so its presence alone says "this image is complete" and a restarted job skips it.
Everything is encoded in memory first, so a bad sample writes nothing at all.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from sdmr.data import layout as L
from sdmr.data.atomic import atomic_write_bytes, atomic_write_text
from sdmr.data.depth_io import check_encoding, encode_depth_png, validate_depth
from sdmr.data.errors import DataError
from sdmr.data.intrinsics import CameraIntrinsics
from sdmr.data.sample import Sample

PNG_ENCODINGS = ("wisdom8", "mm16")


def _relocate(err: DataError, path: Path) -> DataError:
    """The same problem, attributed to the file it would have been written to."""
    return DataError(err.problem, path, err.fix or "fix the sample before writing it")


def check_png_encoding(png_encoding: str, root: Path) -> str:
    """``png_encoding`` if the writer can store depth PNGs in it; checks only, creates nothing."""
    if check_encoding(png_encoding, root) not in PNG_ENCODINGS:
        raise DataError(
            f"'{png_encoding}' is not a PNG depth encoding",
            root,
            fix=f"use one of {', '.join(PNG_ENCODINGS)} (lossless float depth is kept in {L.DEPTH_NUMPY_DIR}/)",
        )
    return png_encoding


class DatasetWriter:
    """Writes one image at a time into ``root`` in our layout (see docs/data_format.md)."""

    def __init__(
        self, root: str | Path, png_encoding: str = "wisdom8", write_numpy_depth: bool = True
    ) -> None:
        self.root = Path(root)
        check_png_encoding(png_encoding, self.root)
        self.png_encoding = png_encoding
        self.write_numpy_depth = write_numpy_depth
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, folder: str, index: int, ext: str) -> Path:
        return self.root / folder / L.image_name(index, ext)

    def meta_path(self, index: int) -> Path:
        return self.path(L.META_DIR, index, ".json")

    def is_complete(self, index: int) -> bool:
        """True once every file of the image is on disk (its meta JSON is written last)."""
        return self.meta_path(index).is_file()

    # ------------------------------------------------------------------ write
    def write(self, index: int, sample: Sample, extra_meta: dict | None = None) -> None:
        """Write one sample as image ``index``; nothing is written if any part is invalid."""
        index = int(index)
        if index < 0:
            raise DataError(f"image index must be ≥ 0, got {index}", fix="number images from 0")
        files = self._encode(index, sample, extra_meta)
        meta_path = self.meta_path(index)
        meta_path.unlink(missing_ok=True)  # an overwritten image is incomplete until its new meta lands
        for folder, ext in (
            (L.DEPTH_NUMPY_DIR, ".npy"),
            (L.MODAL_DIR, ".png"),
            (L.AMODAL_DIR, ".npz"),
            (L.COLOR_DIR, ".png"),
            (L.BIN_DIR, ".png"),
        ):
            stale = self.path(folder, index, ext)
            if stale not in files:
                stale.unlink(missing_ok=True)
        for path, data in files.items():
            if path != meta_path:
                atomic_write_bytes(path, data)
        atomic_write_bytes(meta_path, files[meta_path])

    def _encode(self, index: int, sample: Sample, extra_meta: dict | None) -> dict[Path, bytes]:
        depth_path = self.path(L.DEPTH_DIR, index, ".png")
        if "depth" not in sample:
            raise DataError(
                "sample has no 'depth'", depth_path, "pass a dict with depth (float32 H×W metres)"
            )
        depth = validate_depth(sample["depth"], depth_path)
        height, width = depth.shape
        files = {depth_path: L.png_bytes(encode_depth_png(depth, self.png_encoding, depth_path))}
        if self.write_numpy_depth:
            files[self.path(L.DEPTH_NUMPY_DIR, index, ".npy")] = L.npy_bytes(depth)

        instances = sample.get("instances")
        meta: dict = {
            "index": index,
            "height": height,
            "width": width,
            "num_instances": None,
            "object_ids": None,
        }
        if instances is not None:
            modal_path = self.path(L.MODAL_DIR, index, ".png")
            if instances.image_size != (height, width):
                raise DataError(
                    f"masks are {instances.image_size[0]}×{instances.image_size[1]} but depth is {height}×{width}",
                    modal_path,
                    "render masks and depth at the same resolution",
                )
            empty = np.flatnonzero(instances.areas() == 0)
            if empty.size:
                raise DataError(
                    f"instances {empty.tolist()} have no visible pixel",
                    modal_path,
                    "drop them first: instances.select(instances.areas() > 0)",
                )
            try:
                label = instances.to_label_image()
            except DataError as err:
                raise _relocate(err, modal_path) from err
            files[modal_path] = L.png_bytes(L.label_pixels(label, len(instances)))
            if instances.amodal is not None:
                files[self.path(L.AMODAL_DIR, index, ".npz")] = L.amodal_bytes(instances.amodal)
            meta["num_instances"] = len(instances)
            if instances.object_ids is not None:
                meta["object_ids"] = instances.object_ids.tolist()
        meta["has_amodal"] = instances is not None and instances.amodal is not None

        color = sample.get("color")
        if color is not None:
            color_path = self.path(L.COLOR_DIR, index, ".png")
            color = np.asarray(color)
            if color.dtype != np.uint8 or color.shape != (height, width, 3):
                raise DataError(
                    f"colour must be uint8 {height}×{width}×3, got {color.dtype} {color.shape}",
                    color_path,
                    "pass an RGB uint8 image of the depth image's size",
                )
            files[color_path] = L.png_bytes(color)
        meta["has_color"] = color is not None

        bin_mask = sample.get("bin_mask")
        if bin_mask is not None:
            bin_path = self.path(L.BIN_DIR, index, ".png")
            bin_mask = np.asarray(bin_mask)
            if bin_mask.dtype != bool or bin_mask.shape != (height, width):
                raise DataError(
                    f"bin_mask must be bool {height}×{width}, got {bin_mask.dtype} {bin_mask.shape}",
                    bin_path,
                    "pass a bool mask (True = bin/background) of the depth image's size",
                )
            files[bin_path] = L.png_bytes(bin_mask.astype(np.uint8) * 255)
        meta["has_bin_mask"] = bin_mask is not None

        intrinsics = sample.get("intrinsics")
        meta["intrinsics"] = None
        if intrinsics is not None:
            if (intrinsics.height, intrinsics.width) != (height, width):
                raise DataError(
                    f"intrinsics are for {intrinsics.height}×{intrinsics.width} but depth is {height}×{width}",
                    self.meta_path(index),
                    "use intrinsics.scaled(factor) after resizing an image",
                )
            meta["intrinsics"] = intrinsics.as_dict()
        if sample.get("name"):
            meta["name"] = str(sample["name"])
        meta["extra"] = extra_meta or {}
        try:
            text = json.dumps(meta, allow_nan=False, sort_keys=True)
        except (TypeError, ValueError) as err:
            raise DataError(
                f"extra_meta cannot be stored as JSON ({err})",
                self.meta_path(index),
                "pass plain dicts/lists/str/int/float (convert numpy values with .tolist())",
            ) from err
        files[self.meta_path(index)] = text.encode("utf-8")
        return files

    # ------------------------------------------------------------------ finalize
    def finalize(self, train_indices, test_indices, metadata: dict | None = None) -> Path:
        """Write the split files and ``manifest.json`` after checking the splits.

        Every listed image must be complete, and no image may be in both splits (the paper
        splits by images *and* objects; a shared image would leak the test set).
        """
        train = L.check_index_array(train_indices, L.index_file(self.root, "train"), "train indices")
        test = L.check_index_array(test_indices, L.index_file(self.root, "test"), "test indices")
        shared = np.intersect1d(train, test)
        if shared.size:
            raise DataError(
                f"{shared.size} images are in both train and test (e.g. {shared[:5].tolist()})",
                L.index_file(self.root, "test"),
                "give every image to exactly one split",
            )
        if train.size + test.size == 0:
            raise DataError(
                "both splits are empty", self.root, "list the written images in train/test indices"
            )
        missing = [int(i) for i in np.concatenate([train, test]) if not self.is_complete(int(i))]
        if missing:
            raise DataError(
                f"{len(missing)} listed images are not complete (e.g. {missing[:5]})",
                self.meta_path(missing[0]),
                "write those images (DatasetWriter.write) or drop them from the indices",
            )
        metas = [
            L.read_json(self.meta_path(i)) for i in sorted(L.indices_in(self.root / L.META_DIR, (".json",)))
        ]
        sizes = {(m["height"], m["width"]) for m in metas}
        cameras = {json.dumps(m.get("intrinsics"), sort_keys=True) for m in metas}
        if len(cameras) == 1 and metas[0].get("intrinsics"):
            CameraIntrinsics.from_dict(metas[0]["intrinsics"]).save(self.root / L.INTRINSICS_FILE)
        manifest = {
            "format": L.FORMAT_NAME,
            "version": L.FORMAT_VERSION,
            "num_images": len(metas),
            "image_size": list(next(iter(sizes))) if len(sizes) == 1 else None,
            "depth": {"png_encoding": self.png_encoding, "numpy": self.write_numpy_depth},
            "has_amodal": all(m.get("has_amodal") for m in metas),
            "has_color": all(m.get("has_color") for m in metas),
            "has_bin_mask": all(m.get("has_bin_mask") for m in metas),
            "splits": {"train": int(train.size), "test": int(test.size)},
            "created_by": "sdmr.data.writer",
            "metadata": metadata or {},
        }
        try:
            text = json.dumps(manifest, indent=2, allow_nan=False, sort_keys=True)
        except (TypeError, ValueError) as err:
            raise DataError(
                f"metadata cannot be stored as JSON ({err})", self.root / L.MANIFEST, "pass plain JSON values"
            ) from err
        atomic_write_bytes(L.index_file(self.root, "train"), L.npy_bytes(train))
        atomic_write_bytes(L.index_file(self.root, "test"), L.npy_bytes(test))
        atomic_write_text(self.root / L.MANIFEST, text)
        return self.root
