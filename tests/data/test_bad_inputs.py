"""Every bad input a user can cause raises DataError naming the file and the fix; failed writes leave nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sdmr.data import layout as L
from sdmr.data.atomic import atomic_write_with
from sdmr.data.catalog import open_dataset
from sdmr.data.coco import CocoJsonDataset
from sdmr.data.depth_io import read_depth, write_depth
from sdmr.data.errors import DataError
from sdmr.data.folder import FolderDataset
from sdmr.data.instances import Instances
from sdmr.data.intrinsics import CameraIntrinsics
from sdmr.data.ocid import OcidDataset
from sdmr.data.toy import make_toy_dataset, render_toy_scene
from sdmr.data.wisdom import WisdomDataset
from sdmr.data.writer import DatasetWriter

H, W = 24, 32


def _depth(value: float = 0.8) -> np.ndarray:
    return np.full((H, W), value, np.float32)


def _sample(**overrides) -> dict:
    sample = render_toy_scene(np.random.default_rng(0), H, W)
    sample.update(overrides)
    return sample


def _toy(tmp: Path) -> Path:
    return make_toy_dataset(tmp / "toy", num_images=4, height=H, width=W)


# Each case builds its bad input under tmp and returns (the call that must fail, a file name the message must hold).
Case = Callable[[Path], tuple[Callable[[], object], str]]


def corrupt_png(tmp: Path):
    root = _toy(tmp)
    path = root / L.DEPTH_DIR / "image_000001.png"
    path.write_bytes(path.read_bytes()[:40])
    return (lambda: WisdomDataset(root, None, depth_source="png")[1]), "image_000001.png"


def truncated_npy(tmp: Path):
    root = _toy(tmp)
    path = root / L.DEPTH_NUMPY_DIR / "image_000002.npy"
    path.write_bytes(path.read_bytes()[:100])
    return (lambda: WisdomDataset(root, None)[2]), "image_000002.npy"


def eight_bit_read_as_mm16(tmp: Path):
    write_depth(tmp / "d8.png", _depth(), "wisdom8")
    return (lambda: read_depth(tmp / "d8.png", "mm16")), "d8.png"


def sixteen_bit_read_as_wisdom8(tmp: Path):
    write_depth(tmp / "d16.png", _depth(), "mm16")
    return (lambda: read_depth(tmp / "d16.png", "wisdom8")), "d16.png"


def float_image_read_as_mm16(tmp: Path):
    Image.fromarray(_depth()).save(tmp / "float.tiff")
    return (lambda: read_depth(tmp / "float.tiff", "mm16")), "float.tiff"


def nan_only_depth(tmp: Path):
    np.save(tmp / "nan.npy", np.full((H, W), np.nan, np.float32))
    return (lambda: read_depth(tmp / "nan.npy", "npy")), "nan.npy"


def inf_depth(tmp: Path):
    depth = _depth()
    depth[3, 3] = np.inf
    np.save(tmp / "inf.npy", depth)
    return (lambda: FolderDataset(tmp)[0]), "inf.npy"


def wrong_ndim_depth(tmp: Path):
    writer = DatasetWriter(tmp / "w")
    return (lambda: writer.write(0, _sample(depth=np.zeros((H, W, 3), np.float32) + 0.8))), "image_000000.png"


def mask_size_differs_from_depth(tmp: Path):
    writer = DatasetWriter(tmp / "w")
    masks = np.zeros((1, H + 2, W), bool)
    masks[0, :4, :4] = True
    return (lambda: writer.write(0, _sample(instances=Instances(masks), intrinsics=None))), "image_000000.png"


def label_size_differs_on_disk(tmp: Path):
    root = _toy(tmp)
    Image.fromarray(np.zeros((H, W + 1), np.uint8)).save(root / L.MODAL_DIR / "image_000003.png")
    return (lambda: WisdomDataset(root, None)[3]), "image_000003.png"


def missing_indices_file(tmp: Path):
    root = _toy(tmp)
    (root / "test_indices.npy").unlink()
    return (lambda: WisdomDataset(root, "test")), "test_indices.npy"


def index_out_of_range(tmp: Path):
    root = _toy(tmp)
    np.save(root / "train_indices.npy", np.array([0, 99]))
    return (lambda: open_dataset("wisdom_sim", root, split="train")), "train_indices.npy"


def duplicate_indices(tmp: Path):
    root = _toy(tmp)
    np.save(root / "train_indices.npy", np.array([0, 1, 1]))
    return (lambda: WisdomDataset(root, "train")), "train_indices.npy"


def fractional_indices(tmp: Path):
    root = _toy(tmp)
    np.save(root / "train_indices.npy", np.array([0.5, 1.0]))
    return (lambda: WisdomDataset(root, "train")), "train_indices.npy"


def train_test_overlap_at_finalize(tmp: Path):
    writer = DatasetWriter(tmp / "w")
    for i in range(3):
        writer.write(i, _sample())
    return (lambda: writer.finalize([0, 1], [1, 2])), "test_indices.npy"


def finalize_lists_unwritten_image(tmp: Path):
    writer = DatasetWriter(tmp / "w")
    writer.write(0, _sample())
    return (lambda: writer.finalize([0], [5])), "image_000005.json"


def empty_dataset_folder(tmp: Path):
    (tmp / "empty").mkdir()
    return (lambda: open_dataset("wisdom_sim", tmp / "empty")), "empty"


def unknown_dataset_name(tmp: Path):
    return (lambda: open_dataset("wisdom_rael", tmp)), tmp.name


def unknown_encoding(tmp: Path):
    root = _toy(tmp)
    return (lambda: WisdomDataset(root, None, depth_encoding="png16")), "toy"


def overlapping_modal_masks(tmp: Path):
    masks = np.zeros((2, H, W), bool)
    masks[:, 2:6, 2:6] = True
    writer = DatasetWriter(tmp / "w")
    return (lambda: writer.write(0, _sample(instances=Instances(masks)))), "image_000000.png"


def intrinsics_missing_keys(tmp: Path):
    (tmp / "cam.intr").write_text(json.dumps({"_fx": 500.0, "_fy": 500.0}))
    return (lambda: CameraIntrinsics.load(tmp / "cam.intr")), "cam.intr"


def _intrinsics_file(tmp: Path, fx: object) -> Path:
    (tmp / "cam.intr").write_text(json.dumps({"fx": fx, "fy": 500, "cx": 16, "cy": 12, "width": W, "height": H}))
    return tmp / "cam.intr"


def intrinsics_bad_focal_length(tmp: Path):
    path = _intrinsics_file(tmp, -1)
    return (lambda: CameraIntrinsics.load(path)), "cam.intr"


def intrinsics_not_a_number(tmp: Path):
    path = _intrinsics_file(tmp, "wide")
    return (lambda: CameraIntrinsics.load(path)), "cam.intr"


def meta_intrinsics_bad_size(tmp: Path):
    root = _toy(tmp)
    meta_path = root / L.META_DIR / "image_000002.json"
    meta = json.loads(meta_path.read_text())
    meta["intrinsics"]["width"] = 0
    meta_path.write_text(json.dumps(meta))
    return (lambda: WisdomDataset(root, None)[2]), "image_000002.json"


def depth_beyond_mm16(tmp: Path):
    writer = DatasetWriter(tmp / "w", png_encoding="mm16")
    return (lambda: writer.write(0, _sample(depth=_depth(70.0)))), "image_000000.png"


def write_depth_beyond_mm16(tmp: Path):
    return (lambda: write_depth(tmp / "far.png", _depth(70.0), "mm16")), "far.png"


def extra_meta_not_json(tmp: Path):
    writer = DatasetWriter(tmp / "w")
    return (lambda: writer.write(0, _sample(), extra_meta={"pose": np.eye(4)})), "image_000000.json"


def corrupt_amodal(tmp: Path):
    root = _toy(tmp)
    (root / L.AMODAL_DIR / "image_000000.npz").write_bytes(b"not a zip")
    return (lambda: WisdomDataset(root, None, load_amodal=True)[0]), "image_000000.npz"


def amodal_saved_as_npy(tmp: Path):
    root = _toy(tmp)
    with open(root / L.AMODAL_DIR / "image_000000.npz", "wb") as handle:
        np.save(handle, np.zeros((1, H, W), bool))
    return (lambda: WisdomDataset(root, None, load_amodal=True)[0]), "image_000000.npz"


def label_id_beyond_meta(tmp: Path):
    root = _toy(tmp)
    label = np.zeros((H, W), np.uint8)
    label[:3, :3] = 9
    Image.fromarray(label).save(root / L.MODAL_DIR / "image_000001.png")
    return (lambda: WisdomDataset(root, None)[1]), "image_000001.png"


def coco_without_images(tmp: Path):
    (tmp / "bad.json").write_text(json.dumps({"annotations": []}))
    return (lambda: CocoJsonDataset(tmp / "bad.json")), "bad.json"


def coco_image_id_not_a_number(tmp: Path):
    images = [{"id": "seven", "file_name": "d.png"}]
    (tmp / "bad.json").write_text(json.dumps({"images": images, "annotations": []}))
    return (lambda: CocoJsonDataset(tmp / "bad.json")), "bad.json"


def coco_annotation_not_an_object(tmp: Path):
    (tmp / "bad.json").write_text(json.dumps({"images": [], "annotations": [[1, 2]]}))
    return (lambda: CocoJsonDataset(tmp / "bad.json")), "bad.json"


def folder_png_without_encoding(tmp: Path):
    write_depth(tmp / "a.png", _depth(), "mm16")
    return (lambda: FolderDataset(tmp)), tmp.name


def ocid_train_split(tmp: Path):
    (tmp / "depth").mkdir()
    write_depth(tmp / "depth" / "f.png", _depth(), "mm16")
    return (lambda: OcidDataset(tmp, split="train")), tmp.name


def corrupt_manifest(tmp: Path):
    root = _toy(tmp)
    (root / L.MANIFEST).write_text("{ nope")
    return (lambda: WisdomDataset(root, "train")), "manifest.json"


CASES: list[Case] = [
    corrupt_png,
    truncated_npy,
    eight_bit_read_as_mm16,
    sixteen_bit_read_as_wisdom8,
    float_image_read_as_mm16,
    nan_only_depth,
    inf_depth,
    wrong_ndim_depth,
    mask_size_differs_from_depth,
    label_size_differs_on_disk,
    missing_indices_file,
    index_out_of_range,
    duplicate_indices,
    fractional_indices,
    train_test_overlap_at_finalize,
    finalize_lists_unwritten_image,
    empty_dataset_folder,
    unknown_dataset_name,
    unknown_encoding,
    overlapping_modal_masks,
    intrinsics_missing_keys,
    intrinsics_bad_focal_length,
    intrinsics_not_a_number,
    meta_intrinsics_bad_size,
    depth_beyond_mm16,
    write_depth_beyond_mm16,
    extra_meta_not_json,
    corrupt_amodal,
    amodal_saved_as_npy,
    label_id_beyond_meta,
    coco_without_images,
    coco_image_id_not_a_number,
    coco_annotation_not_an_object,
    folder_png_without_encoding,
    ocid_train_split,
    corrupt_manifest,
]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_bad_input_raises_data_error_with_file_and_fix(tmp_path: Path, case: Case) -> None:
    call, file_name = case(tmp_path)
    with pytest.raises(DataError) as err:
        call()
    message = str(err.value)
    assert file_name in message, message
    assert "Fix:" in message, message


def test_non_bool_masks_say_how_to_fix() -> None:
    with pytest.raises(DataError, match="Fix: pass masks > 0"):
        Instances(np.ones((1, H, W), np.uint8))


def _listing(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_failed_depth_write_leaves_no_file_and_keeps_the_old_one(tmp_path: Path) -> None:
    bad = _depth()
    bad[0, 0] = np.inf
    with pytest.raises(DataError, match="inf"):
        write_depth(tmp_path / "new.png", bad, "wisdom8")
    assert list(tmp_path.iterdir()) == []
    write_depth(tmp_path / "old.npy", _depth(0.5), "npy")
    before = _listing(tmp_path)
    with pytest.raises(DataError):
        write_depth(tmp_path / "old.npy", bad, "npy")
    assert _listing(tmp_path) == before


def test_failed_rename_removes_the_temp_file(tmp_path: Path) -> None:
    (tmp_path / "target").mkdir()  # os.replace of a file onto a folder fails after the temp file is written
    with pytest.raises(OSError):
        atomic_write_with(tmp_path / "target", lambda buf: buf.write(b"data"))
    assert [p.name for p in tmp_path.iterdir()] == ["target"]


def test_failed_sample_write_does_not_touch_a_complete_image(tmp_path: Path) -> None:
    writer = DatasetWriter(tmp_path / "w")
    writer.write(0, _sample())
    before = _listing(tmp_path / "w")
    masks = np.zeros((2, H, W), bool)
    masks[:, :5, :5] = True
    with pytest.raises(DataError, match="more than one modal mask"):
        writer.write(0, _sample(instances=Instances(masks), color=np.zeros((H, W, 3), np.uint8)))
    with pytest.raises(DataError, match="colour"):
        writer.write(0, _sample(color=np.zeros((H, W), np.uint8)))
    assert _listing(tmp_path / "w") == before
    assert writer.is_complete(0)


def test_failed_finalize_writes_no_index_files(tmp_path: Path) -> None:
    writer = DatasetWriter(tmp_path / "w")
    writer.write(0, _sample())
    with pytest.raises(DataError):
        writer.finalize([0], [0])
    assert not (tmp_path / "w" / "train_indices.npy").exists()
    assert not (tmp_path / "w" / L.MANIFEST).exists()
