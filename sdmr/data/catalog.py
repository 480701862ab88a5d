"""`open_dataset(name, root)`: one lookup for every dataset sdmr reads (detectron2's DatasetCatalog idea).

A miss lists the known names and the closest match, because a typo in a config should
cost seconds, not a stack trace.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from pathlib import Path

from sdmr.data.errors import DataError
from sdmr.data.sample import Sample


def _wisdom(root: Path, split: str | None, **kw) -> Sequence[Sample]:
    from sdmr.data.wisdom import WisdomDataset

    return WisdomDataset(root, split=split, **kw)


def _ocid(root: Path, split: str | None, **kw) -> Sequence[Sample]:
    from sdmr.data.ocid import OcidDataset

    return OcidDataset(root, split=split, **kw)


def _coco(root: Path, split: str | None, **kw) -> Sequence[Sample]:
    from sdmr.data.coco import CocoJsonDataset

    return CocoJsonDataset(root, split=split, **kw)


def _folder(root: Path, split: str | None, **kw) -> Sequence[Sample]:
    from sdmr.data.folder import FolderDataset

    return FolderDataset(root, split=split, **kw)


_OPENERS: dict[str, Callable[..., Sequence[Sample]]] = {
    "wisdom_sim": _wisdom,  # our generator's output and the original WISDOM-Sim (same layout)
    "wisdom_real": _wisdom,  # WISDOM-Real high-res / low-res folders
    "ocid": _ocid,
    "coco_json": _coco,
    "folder": _folder,
}
DATASET_NAMES: tuple[str, ...] = tuple(_OPENERS)


def check_dataset_name(name: str, root: str | Path | None = None) -> str:
    if name not in _OPENERS:
        close = difflib.get_close_matches(name, DATASET_NAMES, n=1, cutoff=0.4)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise DataError(
            f"unknown dataset '{name}'", root, f"{hint}known datasets: {', '.join(DATASET_NAMES)}"
        )
    return name


def depth_encoding_kwargs(name: str, depth_encoding: str | None, root: str | Path | None = None) -> dict:
    """``{"depth_encoding": ...}`` for a dataset that takes one; OCID's depth is always mm16."""
    if not depth_encoding:
        return {}
    if name == "ocid":
        if depth_encoding != "mm16":
            raise DataError(
                f"OCID depth is 16-bit millimetres, not '{depth_encoding}'", root, "drop the depth encoding for OCID"
            )
        return {}
    return {"depth_encoding": depth_encoding}


def open_dataset(name: str, root: str | Path, split: str | None = None, **kwargs) -> Sequence[Sample]:
    """Open dataset ``name`` at ``root`` (a folder, or the JSON file for ``coco_json``)."""
    return _OPENERS[check_dataset_name(name, root)](Path(root), split, **kwargs)


def detect_dataset(root: str | Path) -> str:
    """The dataset name whose layout ``root`` has (folder structure only), for tools like ``sdmr-data check``."""
    root = Path(root)
    if root.is_file() and root.suffix == ".json":
        return "coco_json"
    if not root.is_dir():
        raise DataError("path not found", root, "pass a dataset folder or a COCO .json file")
    if any(
        (base / "depth_ims").is_dir() or (base / "depth_ims_numpy").is_dir()
        for base in (root, root / "images")
    ):
        return "wisdom_sim"
    if (root / "depth").is_dir():
        return "ocid"
    if any(root.glob("*.npy")) or any(root.glob("*.npz")):
        return "folder"  # loose depth files here win over OCID sequences further down
    if any(p.is_dir() for p in root.rglob("depth")):
        return "ocid"
    return "folder"
