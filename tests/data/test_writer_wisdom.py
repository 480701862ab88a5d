"""DatasetWriter → WisdomDataset round trips on real files, for our layout and the original raw layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sdmr.data import layout as L
from sdmr.data.depth_io import WISDOM_MAX_DEPTH, WISDOM_MIN_DEPTH
from sdmr.data.errors import DataError
from sdmr.data.instances import Instances
from sdmr.data.toy import make_toy_dataset, render_toy_scene
from sdmr.data.wisdom import WisdomDataset
from sdmr.data.writer import DatasetWriter

WISDOM_STEP = (WISDOM_MAX_DEPTH - WISDOM_MIN_DEPTH) / 255


def _scene(seed: int = 0, **kw):
    return render_toy_scene(np.random.default_rng(seed), height=48, width=64, **kw)


def test_toy_dataset_round_trip_is_exact(tmp_path: Path) -> None:
    root = make_toy_dataset(tmp_path / "toy", num_images=6, height=48, width=64, seed=3)
    rng = np.random.default_rng(3)
    expected = [render_toy_scene(rng, 48, 64, 4) for _ in range(6)]
    train = WisdomDataset(root, "train", load_amodal=True, load_color=True)
    test = WisdomDataset(root, "test", load_amodal=True, load_color=True)
    assert sorted(train.indices.tolist() + test.indices.tolist()) == list(range(6))
    assert not set(train.indices) & set(test.indices)
    assert train.manifest is not None and train.manifest["num_images"] == 6
    for dataset in (train, test):
        for position, sample in enumerate(dataset):
            index = int(dataset.indices[position])
            want = expected[index]
            assert sample["image_id"] == index
            np.testing.assert_array_equal(sample["depth"], want["depth"])  # lossless numpy copy
            np.testing.assert_array_equal(sample["instances"].masks, want["instances"].masks)
            np.testing.assert_array_equal(sample["instances"].amodal, want["instances"].amodal)
            np.testing.assert_array_equal(sample["instances"].object_ids, want["instances"].object_ids)
            np.testing.assert_array_equal(sample["color"], want["color"])
            np.testing.assert_array_equal(sample["bin_mask"], want["bin_mask"])
            assert sample["intrinsics"] == want["intrinsics"]


def test_toy_scene_masks_are_consistent() -> None:
    sample = _scene(1, max_objects=6)
    inst = sample["instances"]
    assert len(inst) >= 1
    assert (inst.areas() >= 12).all()
    assert not (inst.masks & ~inst.amodal).any(), "modal must lie inside amodal"
    assert inst.masks.sum(axis=0).max() <= 1, "modal masks must be disjoint"
    valid = sample["depth"] > 0
    assert valid.all() and 0.5 < sample["depth"].min() < sample["depth"].max() < 1.0


def test_png_depth_is_within_wisdom8_quantisation(tmp_path: Path) -> None:
    root = make_toy_dataset(tmp_path / "toy", num_images=2, height=48, width=64)
    exact = WisdomDataset(root, None, depth_source="numpy")
    png = WisdomDataset(root, None, depth_source="png")
    for a, b in zip(exact, png, strict=True):
        err = np.abs(a["depth"] - b["depth"]).max()
        assert 0 < err <= WISDOM_STEP / 2 + 1e-6


def test_mm16_writer_round_trip_within_half_mm(tmp_path: Path) -> None:
    sample = _scene(2)
    sample["depth"][:3, :3] = 0.0  # invalid pixels survive as 0 in mm16
    writer = DatasetWriter(tmp_path / "mm", png_encoding="mm16", write_numpy_depth=False)
    writer.write(0, sample)
    writer.finalize([0], [])
    loaded = WisdomDataset(tmp_path / "mm", "train")[0]  # encoding from the manifest, no numpy copy
    assert not (tmp_path / "mm" / L.DEPTH_NUMPY_DIR).exists()
    assert np.abs(loaded["depth"] - sample["depth"]).max() <= 0.0005 + 1e-6
    assert (loaded["depth"][:3, :3] == 0).all()
    # the same files read with an explicit, wrong encoding fail loudly instead of giving garbage
    with pytest.raises(DataError, match="8-bit WISDOM") as err:
        WisdomDataset(tmp_path / "mm", "train", depth_encoding="wisdom8")[0]
    assert "image_000000.png" in str(err.value) and "Fix:" in str(err.value)


def test_many_instances_use_uint16_labels(tmp_path: Path) -> None:
    h, w = 20, 16
    masks = np.zeros((300, h, w), bool)
    masks.reshape(300, -1)[np.arange(300), np.arange(300)] = True
    sample = {
        "depth": np.full((h, w), 0.8, np.float32),
        "instances": Instances(masks),
        "intrinsics": None,
        "image_id": 0,
    }
    writer = DatasetWriter(tmp_path / "big")
    writer.write(0, sample)
    assert np.asarray(Image.open(writer.path(L.MODAL_DIR, 0, ".png"))).dtype == np.uint16
    writer.finalize([], [0])
    loaded = WisdomDataset(tmp_path / "big", "test")[0]
    np.testing.assert_array_equal(loaded["instances"].masks, masks)


def test_unlabelled_image_reads_as_none(tmp_path: Path) -> None:
    writer = DatasetWriter(tmp_path / "u")
    writer.write(0, {"depth": _scene(4)["depth"], "instances": None, "intrinsics": None, "image_id": 0})
    writer.finalize([0], [])
    sample = WisdomDataset(tmp_path / "u", "train")[0]
    assert sample["instances"] is None and sample["intrinsics"] is None


def test_rewrite_replaces_optional_files_and_resume_skips_complete(tmp_path: Path) -> None:
    writer = DatasetWriter(tmp_path / "r")
    full = _scene(5)
    writer.write(0, full)
    assert writer.is_complete(0) and not writer.is_complete(1)
    bare = dict(full)
    bare.pop("color")
    bare["instances"] = full["instances"].select(slice(0, 1))
    bare["instances"].amodal = None
    writer.write(0, bare)
    assert not writer.path(L.COLOR_DIR, 0, ".png").exists()
    assert not writer.path(L.AMODAL_DIR, 0, ".npz").exists()
    writer.finalize([0], [])
    assert len(WisdomDataset(tmp_path / "r", "train", load_amodal=True)[0]["instances"]) == 1


def _write_raw_layout(root: Path, samples: list[dict], with_images_level: bool) -> None:
    """The original generator's output, built by hand: per-object channel PNGs, 8-bit depth."""
    from sdmr.data.depth_io import write_depth

    base = root / "images" if with_images_level else root
    for i, sample in enumerate(samples):
        write_depth(base / "depth_ims" / L.image_name(i, ".png"), sample["depth"], "wisdom8")
        for kind, masks in (
            ("modal_masks", sample["instances"].masks),
            ("amodal_masks", sample["instances"].amodal),
        ):
            folder = base / kind / L.image_name(i)
            folder.mkdir(parents=True)
            for k, mask in enumerate(masks):
                Image.fromarray(mask.astype(np.uint8) * 255).save(folder / f"channel_{k:03d}.png")
        label = sample["instances"].to_label_image().astype(np.uint8)
        (base / "semantic_masks").mkdir(exist_ok=True)
        Image.fromarray(label).save(base / "semantic_masks" / L.image_name(i, ".png"))
    np.save(base / "train_indices.npy", np.arange(len(samples) - 1))
    np.save(base / "test_indices.npy", np.array([len(samples) - 1]))
    (root / "metadata.json").write_text('{"obj_ids": {}}')
    samples[0]["intrinsics"].save(root / "camera_intrinsics.intr")


@pytest.mark.parametrize("with_images_level", [True, False])
def test_reads_original_raw_generator_layout(tmp_path: Path, with_images_level: bool) -> None:
    samples = [_scene(s) for s in range(3)]
    _write_raw_layout(tmp_path, samples, with_images_level)
    train = WisdomDataset(tmp_path, "train", load_amodal=True)
    test = WisdomDataset(tmp_path, "test", load_amodal=True)
    assert train.layout == "raw"
    assert train.indices.tolist() == [0, 1] and test.indices.tolist() == [2]
    for dataset in (train, test):
        for sample in dataset:
            want = samples[sample["image_id"]]
            np.testing.assert_array_equal(sample["instances"].masks, want["instances"].masks)
            np.testing.assert_array_equal(sample["instances"].amodal, want["instances"].amodal)
            assert np.abs(sample["depth"] - want["depth"]).max() <= WISDOM_STEP / 2 + 1e-6
            assert sample["intrinsics"] == want["intrinsics"]


def test_reads_wisdom_real_layout(tmp_path: Path) -> None:
    """WISDOM-Real: 8-bit 3-channel depth PNGs, H×W×1 numpy depth, label PNGs, bin masks, no meta."""
    samples = [_scene(s) for s in range(3)]
    for i, sample in enumerate(samples):
        from sdmr.data.depth_io import write_depth

        write_depth(tmp_path / "depth_ims" / L.image_name(i, ".png"), sample["depth"], "wisdom8")
        (tmp_path / "depth_ims_numpy").mkdir(exist_ok=True)
        np.save(tmp_path / "depth_ims_numpy" / L.image_name(i, ".npy"), sample["depth"][..., None])
        (tmp_path / "modal_segmasks").mkdir(exist_ok=True)
        Image.fromarray(sample["instances"].to_label_image().astype(np.uint8)).save(
            tmp_path / "modal_segmasks" / L.image_name(i, ".png")
        )
        (tmp_path / "segmasks_filled").mkdir(exist_ok=True)
        Image.fromarray(sample["bin_mask"].astype(np.uint8) * 255).save(
            tmp_path / "segmasks_filled" / L.image_name(i, ".png")
        )
    np.save(tmp_path / "test_indices.npy", np.array([2, 0]))
    test = WisdomDataset(tmp_path, "test")
    assert test.layout == "training" and test.indices.tolist() == [2, 0]
    sample = test[0]
    assert sample["image_id"] == 2
    np.testing.assert_array_equal(sample["depth"], samples[2]["depth"])
    np.testing.assert_array_equal(sample["instances"].masks, samples[2]["instances"].masks)
    np.testing.assert_array_equal(sample["bin_mask"], samples[2]["bin_mask"])
    with pytest.raises(DataError, match="train_indices.npy") as err:
        WisdomDataset(tmp_path, "train")
    assert "Fix:" in str(err.value) and "split=None" in str(err.value)
    assert len(WisdomDataset(tmp_path, None)) == 3


def test_raw_layout_without_channel_folders_uses_semantic_masks(tmp_path: Path) -> None:
    import shutil

    samples = [_scene(s) for s in range(2)]
    _write_raw_layout(tmp_path, samples, with_images_level=True)
    shutil.rmtree(tmp_path / "images" / "modal_masks")
    sample = WisdomDataset(tmp_path, "test")[0]
    np.testing.assert_array_equal(sample["instances"].masks, samples[1]["instances"].masks)


def test_dataset_pickles_for_dataloader_workers(tmp_path: Path) -> None:
    import pickle

    root = make_toy_dataset(tmp_path / "toy", num_images=3, height=32, width=48)
    dataset = WisdomDataset(root, "train", load_amodal=True)
    clone = pickle.loads(pickle.dumps(dataset))
    np.testing.assert_array_equal(clone[0]["instances"].amodal, dataset[0]["instances"].amodal)
    assert clone[-1]["image_id"] == dataset.indices[-1]
    with pytest.raises(IndexError):
        dataset[len(dataset)]


def test_image_without_objects_round_trips(tmp_path: Path) -> None:
    empty = Instances(np.zeros((0, 12, 16), bool), amodal=np.zeros((0, 12, 16), bool))
    writer = DatasetWriter(tmp_path / "e")
    writer.write(
        3,
        {"depth": np.full((12, 16), 0.6, np.float32), "instances": empty, "intrinsics": None, "image_id": 3},
    )
    writer.finalize([], [3])
    sample = WisdomDataset(tmp_path / "e", "test", load_amodal=True)[0]
    assert sample["image_id"] == 3 and len(sample["instances"]) == 0
    assert sample["instances"].amodal.shape == (0, 12, 16)
