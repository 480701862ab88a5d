"""`OcidDataset`: OCID tabletop frames (Suchi et al., ICRA 2019) in OCID's own folder layout.

Every sequence folder holds ``rgb/``, ``depth/`` and ``label/`` with the same file name in
each (``result_2018-08-24-13-13-53.png``). ``root`` may be one sequence or any folder above
many (the full OCID tree, ``ARID20/table/top/seq01/...``): every ``depth/`` folder below it
is read, in sorted order. Depth is 16-bit millimetres (0 = invalid). Labels are 16-bit:
0 = unlabelled, 1 = floor/wall, 2 = table, each value ≥ 3 one object instance.

OCID ships no intrinsics. Pass ``intrinsics`` explicitly if a method needs them; the
sensor is a Kinect-class camera at 640×480, approximately fx = fy ≈ 615, cx = 320, cy = 240
(not an official calibration, so it is not used silently).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sdmr.data.depth_io import open_png, read_depth
from sdmr.data.errors import DataError
from sdmr.data.folder import resolve_intrinsics, whole_dataset_split
from sdmr.data.instances import Instances
from sdmr.data.intrinsics import CameraIntrinsics
from sdmr.data.layout import read_label_png
from sdmr.data.sample import Sample

OCID_BACKGROUND_LABELS = (0, 1, 2)


def is_sequence_folder(folder: str | Path) -> bool:
    """An OCID sequence folder: ``depth/`` beside ``label/`` or ``rgb/`` (folder names only)."""
    folder = Path(folder)
    return (folder / "depth").is_dir() and ((folder / "label").is_dir() or (folder / "rgb").is_dir())


def depth_files_in(folder: str | Path) -> list[Path]:
    """The depth files (``depth/*.png``, 16-bit millimetres: encoding ``mm16``) of an OCID sequence
    folder, sorted; ``[]`` for any other folder. For tools that take "a folder of depth images"
    (sdmr-segment), so an OCID sequence folder can be passed as it is."""
    folder = Path(folder)
    if not is_sequence_folder(folder):
        return []
    return sorted(p for p in (folder / "depth").glob("*.png") if p.is_file() and not p.name.startswith("."))


class OcidDataset(Sequence):
    """All OCID frames under ``root``; ``image_id`` is the position in sorted order."""

    def __init__(
        self,
        root: str | Path,
        split: str | None = None,
        intrinsics: CameraIntrinsics | str | Path | None = None,
        load_color: bool = False,
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(
                "OCID folder not found", self.root, "pass an OCID sequence folder (with depth/, label/)"
            )
        whole_dataset_split(split, self.root, "ocid")
        depth_dirs = {p for p in self.root.rglob("depth") if p.is_dir()}
        self.frames = sorted({f for d in depth_dirs for f in d.glob("*.png")})
        if not self.frames:
            raise DataError(
                "no OCID frames (no depth/*.png below this folder)",
                self.root,
                "pass an OCID sequence folder or the OCID root; its frames live in <seq>/depth/*.png",
            )
        self.intrinsics = resolve_intrinsics(intrinsics, self.root)
        self.load_color = load_color
        self.manifest = None

    def __len__(self) -> int:
        return len(self.frames)

    def depth_path(self, image_id: int) -> tuple[Path, str]:
        return self.frames[image_id], "mm16"

    def label_path(self, image_id: int) -> Path:
        depth = self.frames[image_id]
        return depth.parent.parent / "label" / depth.name

    def __getitem__(self, position: int) -> Sample:  # type: ignore[override]
        if not 0 <= position < len(self):
            raise IndexError(f"position {position} out of range for {len(self)} frames")
        path = self.frames[position]
        depth = read_depth(path, "mm16")
        label_path = self.label_path(position)
        instances = None
        if label_path.parent.is_dir():
            label = read_label_png(label_path)
            if label.shape != depth.shape:
                raise DataError(
                    f"label is {label.shape} but depth is {depth.shape}",
                    label_path,
                    "re-copy the frame's files",
                )
            instances = Instances.from_label_image(label, background=OCID_BACKGROUND_LABELS)
        sample: Sample = {
            "depth": depth,
            "instances": instances,
            "intrinsics": self.intrinsics,
            "image_id": position,
            "name": (path.parent.parent / path.stem).relative_to(self.root).as_posix(),
        }
        if self.load_color:
            rgb_path = path.parent.parent / "rgb" / path.name
            color = open_png(rgb_path)
            if color.ndim != 3 or color.shape[:2] != depth.shape or color.dtype.itemsize != 1:
                raise DataError(
                    f"colour image is {color.dtype} {color.shape}", rgb_path, "re-copy the frame's files"
                )
            sample["color"] = color[..., :3].copy()
        return sample
