"""COCO JSON (RLE) export and import: the interchange format every other segmentation tool reads.

Export: one category (1, "object"), ``iscrowd`` 0, RLE masks from ``pycocotools.mask``
with ``bbox``/``area`` computed from the RLE, so ``pycocotools.coco.COCO`` loads the file
unchanged. Each ``images[]`` entry names its depth file relative to the JSON and, as an
extra key COCO tools ignore, its ``depth_encoding``.

Import (`CocoJsonDataset`): depth from ``images[].file_name`` relative to the JSON (or a
given ``image_root``), in the encoding you name or the one stored by our export.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils
from tqdm import tqdm

from sdmr.data.atomic import atomic_write_text
from sdmr.data.depth_io import check_encoding, read_depth
from sdmr.data.errors import DataError
from sdmr.data.folder import resolve_intrinsics, whole_dataset_split
from sdmr.data.instances import Instances
from sdmr.data.intrinsics import CameraIntrinsics
from sdmr.data.layout import UNSAFE_PATH_PROBLEM, read_json, refuse_dataset_file, resolve_inside
from sdmr.data.sample import Sample

CATEGORY = {"id": 1, "name": "object", "supercategory": "object"}


def encode_masks_with_geometry(masks: np.ndarray) -> list[tuple[dict, float, list[float]]]:
    """JSON-ready RLE, area and box of each mask of a bool ``N×H×W`` stack, one pycocotools call.

    ``view(uint8)`` reinterprets the bools without a copy, so the only copy is the
    column-major one RLE needs.
    """
    if len(masks) == 0:
        return []
    rles = mask_utils.encode(np.asfortranarray(np.ascontiguousarray(masks).view(np.uint8).transpose(1, 2, 0)))
    areas = mask_utils.area(rles)
    boxes = mask_utils.toBbox(rles)
    for rle in rles:
        rle["counts"] = rle["counts"].decode("ascii")
    return [(rle, float(a), [float(v) for v in box]) for rle, a, box in zip(rles, areas, boxes, strict=True)]


def mask_annotations(masks: np.ndarray, image_id: int, scores: np.ndarray | None = None) -> list[dict]:
    """COCO annotation records (no ``id``) of one image's masks; detections when ``scores`` is given."""
    records = []
    for k, (rle, area, box) in enumerate(encode_masks_with_geometry(masks)):
        record = {
            "image_id": int(image_id),
            "category_id": CATEGORY["id"],
            "segmentation": rle,
            "area": area,
            "bbox": box,
            "iscrowd": 0,
        }
        if scores is not None:
            record["score"] = float(scores[k])
        records.append(record)
    return records


def instances_to_annotations(instances: Instances, image_id: int, first_id: int = 1) -> list[dict]:
    """COCO annotations of ``instances`` with ids from ``first_id`` (scores go into ``score``)."""
    records = mask_annotations(instances.masks, image_id, instances.scores)
    return [{"id": first_id + k, **record} for k, record in enumerate(records)]


def export_coco(
    samples: Iterable[Sample],
    out_json: str | Path,
    depth_file: Callable[[Sample], tuple[Path, str]] | None = None,
    description: str = "",
    progress: bool = False,
    out_argument: str = "out_json",
) -> Path:
    """Write a COCO instances JSON for labelled ``samples``; returns the JSON path.

    ``depth_file(sample) -> (path, encoding)`` names each image's depth file; by default
    the dataset's own ``depth_path(image_id)`` (all sdmr datasets have one).
    """
    out_json = Path(out_json)
    if getattr(samples, "root", None) is not None:  # never replace a file of the dataset being exported
        refuse_dataset_file(out_json, samples.root, out_argument, (getattr(samples, "json_path", None),))
    if depth_file is None:
        owner = getattr(samples, "depth_path", None)
        if owner is None:
            raise DataError(
                "cannot tell which file holds each image's depth",
                out_json,
                "pass depth_file=lambda sample: (path, encoding), or export an sdmr dataset",
            )

        def depth_file(sample: Sample) -> tuple[Path, str]:
            return owner(sample["image_id"])

    images, annotations, depth_paths = [], [], []
    for sample in tqdm(samples, desc="to-coco", unit="img", disable=not progress):
        instances = sample["instances"]
        if instances is None:
            raise DataError(
                f"image {sample['image_id']} has no labels",
                out_json,
                "export a labelled dataset (COCO needs masks)",
            )
        path, encoding = depth_file(sample)
        depth_paths.append(Path(path).resolve())
        height, width = sample["depth"].shape
        images.append(
            {
                "id": int(sample["image_id"]),
                "file_name": "",  # relative to the image root, filled in below
                "height": int(height),
                "width": int(width),
                "depth_encoding": encoding,
            }
        )
        annotations += instances_to_annotations(instances, sample["image_id"], first_id=len(annotations) + 1)
    if len({image["id"] for image in images}) != len(images):
        raise DataError("two samples share an image_id", out_json, "give every sample a distinct image_id")
    # Names stay inside the folder they are read from: the JSON's own folder, or, when the images
    # are not below it, the folder holding them all, recorded (relative) as "image_root".
    here = out_json.parent.resolve()
    base = here
    if depth_paths and any(os.path.relpath(p, here).startswith("..") for p in depth_paths):
        base = Path(os.path.commonpath([p.parent for p in depth_paths]))
    for image, path in zip(images, depth_paths, strict=True):
        image["file_name"] = Path(os.path.relpath(path, base)).as_posix()
    data = {
        "info": {"description": description or "sdmr export", "version": "1.0"},
        **({"image_root": Path(os.path.relpath(base, here)).as_posix()} if base != here else {}),
        "images": images,
        "annotations": annotations,
        "categories": [CATEGORY],
    }
    atomic_write_text(out_json, json.dumps(data))
    return out_json


def _decode_segmentation(
    segmentation: object, height: int, width: int, path: Path, ann_id: object
) -> np.ndarray:
    try:
        if isinstance(segmentation, list):  # polygons
            rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
        elif isinstance(segmentation, dict) and isinstance(
            segmentation.get("counts"), list
        ):  # uncompressed RLE
            rle = mask_utils.frPyObjects(segmentation, height, width)
        elif isinstance(segmentation, dict):
            rle = dict(segmentation)
            if isinstance(rle["counts"], str):
                rle["counts"] = rle["counts"].encode("ascii")
        else:
            raise TypeError(f"unsupported segmentation type {type(segmentation).__name__}")
        if [int(s) for s in rle["size"]] != [height, width]:
            raise ValueError(f"mask size {rle['size']} differs from the image's {height}×{width}")
        return mask_utils.decode(rle).astype(bool)
    except (KeyError, TypeError, ValueError, IndexError) as err:
        raise DataError(
            f"annotation {ann_id}: cannot decode segmentation ({err})",
            path,
            "store RLE ({'size': [h, w], 'counts': ...}) or polygons of the image's size",
        ) from err


def _integer_id(value: object, what: str, path: Path) -> int:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError) as err:
        raise DataError(f"{what} is not an integer id ({value!r})", path, "COCO ids are integers") from err


class CocoJsonDataset(Sequence):
    """Samples of a COCO instances JSON whose ``file_name``s are depth files."""

    def __init__(
        self,
        json_path: str | Path,
        split: str | None = None,
        image_root: str | Path | None = None,
        depth_encoding: str | None = None,
        intrinsics: CameraIntrinsics | str | Path | None = None,
    ) -> None:
        self.json_path = Path(json_path)
        if self.json_path.is_dir():
            raise DataError(
                "expected a COCO JSON file, got a folder", self.json_path, "pass the path of the .json file"
            )
        self.root = self.json_path.parent
        whole_dataset_split(split, self.json_path, "coco_json")
        self.depth_encoding = (
            None if depth_encoding is None else check_encoding(depth_encoding, self.json_path)
        )
        data = read_json(self.json_path)
        self.image_root = self._image_root(image_root, data)
        for key in ("images", "annotations"):
            if not isinstance(data.get(key), list):
                raise DataError(
                    f"COCO JSON lacks a '{key}' list", self.json_path, "write a COCO instances file"
                )
        for position, image in enumerate(data["images"]):
            for key in ("id", "file_name"):
                if not isinstance(image, dict) or key not in image:
                    raise DataError(
                        f"images[{position}] lacks '{key}'",
                        self.json_path,
                        "give every image id and file_name",
                    )
            _integer_id(image["id"], f"images[{position}].id", self.json_path)
            resolve_inside(self.image_root, image["file_name"], self.json_path, f"images[{position}].file_name")
        self.images = sorted(data["images"], key=lambda image: int(image["id"]))
        self.by_image: dict[int, list[dict]] = {}
        for position, annotation in enumerate(data["annotations"]):
            if not isinstance(annotation, dict):
                raise DataError(
                    f"annotations[{position}] is not an object", self.json_path, "write a COCO instances file"
                )
            image_id = annotation.get("image_id", -1)
            image_id = _integer_id(image_id, f"annotations[{position}].image_id", self.json_path)
            self.by_image.setdefault(image_id, []).append(annotation)
        self.positions = {int(image["id"]): k for k, image in enumerate(self.images)}
        if len(self.positions) != len(self.images):
            raise DataError("two images share an id", self.json_path, "give every image a distinct id")
        orphans = sorted(set(self.by_image) - set(self.positions))
        if orphans:
            raise DataError(
                f"annotations refer to image ids not in 'images': {orphans[:5]}",
                self.json_path,
                "list every annotated image in 'images'",
            )
        self.intrinsics = resolve_intrinsics(intrinsics, self.root)
        self.manifest = None

    def _image_root(self, image_root: str | Path | None, data: dict) -> Path:
        """The folder ``file_name``s are relative to: the caller's ``image_root``, else the one the
        JSON records (our export writes it when the images are not below the JSON), else its folder."""
        if image_root is not None:
            return Path(image_root)
        declared = data.get("image_root")
        if declared is None:
            return self.root
        if not isinstance(declared, str) or os.path.isabs(declared):
            raise DataError(
                f"image_root {declared!r} {UNSAFE_PATH_PROBLEM} {self.root} (an absolute path)",
                self.json_path,
                "store image_root relative to the JSON's folder, or pass image_root= explicitly",
            )
        return self.root / declared

    def __len__(self) -> int:
        return len(self.images)

    def depth_path(self, image_id: int) -> tuple[Path, str]:
        position = self.positions[int(image_id)]
        image = self.images[position]
        encoding = self.depth_encoding or image.get("depth_encoding")
        if encoding is None:
            raise DataError(
                f"no depth encoding for {image.get('file_name')} (its images[] entry has no depth_encoding key)",
                self.json_path,
                "pass --depth-encoding mm16 | wisdom8 | npy | tiff (the file does not say)",
            )
        path = resolve_inside(self.image_root, image["file_name"], self.json_path, "file_name")
        return path, check_encoding(encoding, self.json_path)

    def __getitem__(self, position: int) -> Sample:  # type: ignore[override]
        if not 0 <= position < len(self):
            raise IndexError(f"position {position} out of range for {len(self)} images")
        image = self.images[position]
        path, encoding = self.depth_path(image["id"])
        depth = read_depth(path, encoding)
        height, width = depth.shape
        annotations = [a for a in self.by_image.get(int(image["id"]), []) if not a.get("iscrowd", 0)]
        masks = [
            _decode_segmentation(a.get("segmentation"), height, width, self.json_path, a.get("id"))
            for a in annotations
        ]
        scores = (
            [a["score"] for a in annotations]
            if annotations and all("score" in a for a in annotations)
            else None
        )
        instances = Instances(
            masks=np.stack(masks) if masks else np.zeros((0, height, width), bool),
            scores=None if scores is None else np.asarray(scores, dtype=np.float32),
            object_ids=np.asarray([a.get("id", k) for k, a in enumerate(annotations)], dtype=np.int64),
        )
        return {
            "depth": depth,
            "instances": instances,
            "intrinsics": self.intrinsics,
            "image_id": int(image["id"]),
            "name": Path(image["file_name"]).stem,
        }
