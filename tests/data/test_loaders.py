"""OCID, folder, COCO JSON loaders and the catalog, on real files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO

from sdmr.data.catalog import DATASET_NAMES, detect_dataset, open_dataset
from sdmr.data.coco import CocoJsonDataset, export_coco
from sdmr.data.depth_io import write_depth
from sdmr.data.errors import DataError
from sdmr.data.folder import FolderDataset
from sdmr.data.intrinsics import CameraIntrinsics
from sdmr.data.ocid import OcidDataset
from sdmr.data.toy import make_toy_dataset, render_toy_scene
from sdmr.data.wisdom import WisdomDataset

SAMPLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "samples"
OCID_DEV = SAMPLES / "ocid_dev"


@pytest.mark.skipif(not OCID_DEV.is_dir(), reason="shared OCID samples absent")
def test_ocid_dev_frames() -> None:
    dataset = open_dataset("ocid", OCID_DEV, load_color=True)
    assert len(dataset) == 4
    counts = []
    for sample in dataset:
        label = np.asarray(Image.open(OCID_DEV / "label" / f"{sample['name']}.png"))
        raw = np.asarray(Image.open(OCID_DEV / "depth" / f"{sample['name']}.png"))
        np.testing.assert_allclose(sample["depth"], raw / 1000.0, atol=1e-6)
        inst = sample["instances"]
        np.testing.assert_array_equal(inst.object_ids, np.unique(label[label >= 3]))
        for object_id, mask in zip(inst.object_ids, inst.masks, strict=True):
            np.testing.assert_array_equal(mask, label == object_id)
        assert sample["color"].shape == (480, 640, 3) and sample["intrinsics"] is None
        counts.append(len(inst))
    assert sum(counts) == 11  # the folder's README: 2, 3, 3, 3 objects
    camera = CameraIntrinsics(615.0, 615.0, 320.0, 240.0, 640, 480)
    assert OcidDataset(OCID_DEV, intrinsics=camera)[0]["intrinsics"] == camera


def _ocid_tree(root: Path) -> list[np.ndarray]:
    """Two OCID-style sequences built on disk (mm16 depth, uint16 labels with 1/2 background)."""
    labels = []
    for seq, seed in (("ARID20/table/top/seq01", 0), ("YCB10/floor/bottom/seq03", 1)):
        scene = render_toy_scene(np.random.default_rng(seed), 48, 64)
        label = scene["instances"].to_label_image().astype(np.uint16)
        label = np.where(label > 0, label + 2, 2).astype(np.uint16)
        label[:2] = 1
        for folder in ("depth", "label", "rgb"):
            (root / seq / folder).mkdir(parents=True)
        write_depth(root / seq / "depth" / "result_x.png", scene["depth"], "mm16")
        Image.fromarray(label).save(root / seq / "label" / "result_x.png")
        Image.fromarray(scene["color"]).save(root / seq / "rgb" / "result_x.png")
        labels.append(label)
    return labels


def test_ocid_tree_reads_every_sequence(tmp_path: Path) -> None:
    labels = _ocid_tree(tmp_path)
    dataset = OcidDataset(tmp_path)
    assert [s["name"] for s in dataset] == [
        "ARID20/table/top/seq01/result_x",
        "YCB10/floor/bottom/seq03/result_x",
    ]
    for sample, label in zip(dataset, labels, strict=True):
        assert len(sample["instances"]) == len(np.unique(label[label >= 3]))
        assert not sample["instances"].masks[:, :2].any()  # label 1 (floor) is background
    assert detect_dataset(tmp_path) == "ocid"
    with pytest.raises(DataError, match="no 'train' split"):
        OcidDataset(tmp_path, split="train")


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="shared samples absent")
def test_folder_of_uois_depth() -> None:
    dataset = open_dataset("folder", SAMPLES)
    assert [s["name"] for s in dataset] == [f"uois_{k}_depth" for k in range(3)]
    for k, sample in enumerate(dataset):
        np.testing.assert_array_equal(sample["depth"], np.load(SAMPLES / f"uois_{k}_depth.npy"))
        assert sample["instances"] is None
    assert detect_dataset(SAMPLES) == "folder"


def test_folder_png_needs_named_encoding_and_intrinsics_file(tmp_path: Path) -> None:
    depth = render_toy_scene(np.random.default_rng(0), 48, 64)["depth"]
    write_depth(tmp_path / "a.png", depth, "mm16")
    camera = CameraIntrinsics(80.0, 80.0, 31.5, 23.5, 64, 48)
    camera.save(tmp_path / "camera_intrinsics.intr")
    with pytest.raises(DataError, match="depth_encoding='mm16'") as err:
        FolderDataset(tmp_path)
    assert str(tmp_path) in str(err.value)
    sample = FolderDataset(tmp_path, depth_encoding="mm16")[0]
    assert np.abs(sample["depth"] - depth).max() <= 0.0005 + 1e-6
    assert sample["intrinsics"] == camera


def test_coco_round_trip_with_pycocotools(tmp_path: Path) -> None:
    root = make_toy_dataset(tmp_path / "toy", num_images=4, height=48, width=64, seed=2)
    dataset = WisdomDataset(root, None)
    out = export_coco(dataset, tmp_path / "export" / "toy.json")
    coco = COCO(str(out))
    assert sorted(coco.getImgIds()) == dataset.indices.tolist()
    for sample in dataset:
        ann_ids = coco.getAnnIds(imgIds=[sample["image_id"]])
        anns = coco.loadAnns(ann_ids)
        assert len(anns) == len(sample["instances"])
        for ann, mask, box in zip(
            anns, sample["instances"].masks, sample["instances"].boxes_xyxy(), strict=True
        ):
            np.testing.assert_array_equal(coco.annToMask(ann).astype(bool), mask)
            assert ann["area"] == mask.sum() and ann["iscrowd"] == 0 and ann["category_id"] == 1
            np.testing.assert_allclose(ann["bbox"], [box[0], box[1], box[2] - box[0], box[3] - box[1]])
    back = open_dataset("coco_json", out)
    assert len(back) == len(dataset)
    for a, b in zip(dataset, back, strict=True):
        assert a["image_id"] == b["image_id"]
        np.testing.assert_array_equal(a["depth"], b["depth"])  # file names point at the lossless copy
        np.testing.assert_array_equal(a["instances"].masks, b["instances"].masks)


def test_coco_import_of_foreign_json_with_image_root(tmp_path: Path) -> None:
    """A JSON written by another tool: polygons, no depth_encoding key, images elsewhere."""
    depth = np.full((20, 30), 0.9, np.float32)
    write_depth(tmp_path / "imgs" / "d0.png", depth, "mm16")
    data = {
        "images": [{"id": 7, "file_name": "d0.png", "height": 20, "width": 30}],
        "annotations": [
            {
                "id": 1,
                "image_id": 7,
                "category_id": 3,
                "iscrowd": 0,
                "segmentation": [[2, 2, 12, 2, 12, 10, 2, 10]],
            }
        ],
        "categories": [{"id": 3, "name": "thing"}],
    }
    (tmp_path / "ann.json").write_text(json.dumps(data))
    with pytest.raises(DataError, match="depth_encoding") as err:
        CocoJsonDataset(tmp_path / "ann.json", image_root=tmp_path / "imgs")[0]
    assert "ann.json" in str(err.value)
    sample = CocoJsonDataset(tmp_path / "ann.json", image_root=tmp_path / "imgs", depth_encoding="mm16")[0]
    assert sample["image_id"] == 7 and len(sample["instances"]) == 1
    mask = sample["instances"].masks[0]
    assert mask[5, 5] and not mask[15, 20] and 60 <= mask.sum() <= 120


def test_catalog_names_and_unknown_name(tmp_path: Path) -> None:
    assert DATASET_NAMES == ("wisdom_sim", "wisdom_real", "ocid", "coco_json", "folder")
    root = make_toy_dataset(tmp_path / "toy", num_images=3, height=32, width=48)
    assert len(open_dataset("wisdom_real", root, split="test")) == 1
    assert detect_dataset(root) == "wisdom_sim"
    with pytest.raises(DataError) as err:
        open_dataset("ocdi", root)
    message = str(err.value)
    assert "did you mean 'ocid'" in message and "wisdom_sim, wisdom_real, ocid, coco_json, folder" in message
    assert "toy" in message and "Fix:" in message
