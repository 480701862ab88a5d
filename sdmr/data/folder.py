"""`FolderDataset`: a plain folder of depth files, unlabelled (run a method on your own sensor's frames).

Which files are depth is decided by the encoding you name, never by looking at pixels:
``.npy``/``.npz`` (float metres) by default, ``*.png`` when ``depth_encoding`` is ``mm16``
or ``wisdom8``, ``*.tif``/``*.tiff`` for ``tiff``. Narrow it further with ``pattern`` (e.g. ``"*_depth.npy"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sdmr.data.depth_io import DEPTH_FILE_PATTERNS, check_encoding, read_depth
from sdmr.data.errors import DataError
from sdmr.data.intrinsics import CameraIntrinsics
from sdmr.data.layout import INTRINSICS_FILE
from sdmr.data.sample import Sample

EVAL_ONLY_SPLITS = (None, "test", "all")


def whole_dataset_split(split: str | None, root: Path, name: str) -> None:
    """Datasets without split files serve every image for evaluation; other splits are a mistake."""
    if split not in EVAL_ONLY_SPLITS:
        raise DataError(
            f"dataset '{name}' has no '{split}' split (it has no index files: every image is evaluation data)",
            root,
            "use --split all (split=None in Python) or --split test, or convert it to our layout with "
            "DatasetWriter to make splits",
        )


def resolve_intrinsics(
    intrinsics: CameraIntrinsics | str | Path | None, root: Path
) -> CameraIntrinsics | None:
    """An explicit camera, a path to an ``.intr``/JSON file, or ``root/camera_intrinsics.intr`` if present."""
    if isinstance(intrinsics, CameraIntrinsics):
        return intrinsics
    if intrinsics is not None:
        return CameraIntrinsics.load(intrinsics)
    default = root / INTRINSICS_FILE
    return CameraIntrinsics.load(default) if default.is_file() else None


class FolderDataset(Sequence):
    """Depth files in one folder, sorted by name; ``image_id`` is the position, ``instances`` None."""

    def __init__(
        self,
        root: str | Path,
        split: str | None = None,
        depth_encoding: str | None = None,
        intrinsics: CameraIntrinsics | str | Path | None = None,
        pattern: str | None = None,
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError("folder not found", self.root, "pass a folder that holds depth files")
        whole_dataset_split(split, self.root, "folder")
        self.depth_encoding = check_encoding(depth_encoding or "npy", self.root)
        patterns = [pattern] if pattern else list(DEPTH_FILE_PATTERNS[self.depth_encoding])
        self.files = sorted(
            {p for pat in patterns for p in self.root.glob(pat) if p.is_file() and not p.name.startswith(".")}
        )
        if not self.files:
            from sdmr.data.ocid import depth_files_in

            if depth_files_in(self.root):
                hint = "this is an OCID sequence folder (depth/, label/): use --dataset ocid"
            elif self.depth_encoding == "npy":
                hint = (
                    "for PNG depth use --depth-encoding mm16 (16-bit millimetres; depth_encoding='mm16' in "
                    "Python) or --depth-encoding wisdom8"
                )
            else:
                hint = "check the folder and the pattern"
            raise DataError(f"no depth files matching {', '.join(patterns)}", self.root, hint)
        self.intrinsics = resolve_intrinsics(intrinsics, self.root)
        self.manifest = None

    def __len__(self) -> int:
        return len(self.files)

    def depth_path(self, image_id: int) -> tuple[Path, str]:
        return self.files[image_id], self.depth_encoding

    def __getitem__(self, position: int) -> Sample:  # type: ignore[override]
        if not 0 <= position < len(self):
            raise IndexError(f"position {position} out of range for {len(self)} images")
        return read_sample(self.files[position], self.depth_encoding, self.intrinsics, position)


#: A camera without its image size (``sdmr-segment --intrinsics fx,fy,cx,cy``): sized to each frame.
PinholeParameters = tuple[float, float, float, float]


def sized_camera(
    intrinsics: CameraIntrinsics | PinholeParameters | None, shape: tuple[int, int], path: Path | None = None
) -> CameraIntrinsics | None:
    """The camera of a ``shape`` frame: pinhole parameters sized to it, or intrinsics checked against it."""
    if isinstance(intrinsics, tuple):
        return CameraIntrinsics(*intrinsics, width=shape[1], height=shape[0])
    if intrinsics is not None and (intrinsics.height, intrinsics.width) != tuple(shape):
        raise DataError(
            f"depth is {shape[0]}×{shape[1]} but the intrinsics are for {intrinsics.height}×{intrinsics.width}",
            path,
            "pass the intrinsics of this camera resolution (CameraIntrinsics.scaled after resizing)",
        )
    return intrinsics


def read_sample(
    path: Path,
    encoding: str,
    intrinsics: CameraIntrinsics | PinholeParameters | None,
    image_id: int,
    name: str | None = None,
) -> Sample:
    """One depth file as an unlabelled :class:`~sdmr.data.sample.Sample`, the contract every reader
    returns: the depth read and validated once, the camera checked against (or sized to) the frame.
    ``FolderDataset`` and ``sdmr-segment`` both read through it, so a file means the same to both."""
    depth = read_depth(path, encoding)
    return {
        "depth": depth,
        "instances": None,
        "intrinsics": sized_camera(intrinsics, depth.shape, path),
        "image_id": image_id,
        "name": path.stem if name is None else name,
    }
