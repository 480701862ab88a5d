"""Sim-to-real training augmentation: sensor corruption, random rescale, geometric encodings.

Each corruption must leave the labels exactly as they were and be reproducible from its seed;
rescaling must move depth, masks and intrinsics together.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from sdmr.data import DataError, Instances
from sdmr.data.corruption import CorruptionConfig, correlated_field, corrupt_depth
from sdmr.data.datamodule import DetectionDataset
from sdmr.data.input_encoding import encode_model_input, organised_points, surface_normals
from sdmr.data.intrinsics import CameraIntrinsics
from sdmr.data.transforms import rescale_sample

H, W = 96, 128
INTR = CameraIntrinsics(110.0, 110.0, (W - 1) / 2, (H - 1) / 2, W, H)


def table_with_box() -> dict:
    depth = np.full((H, W), 1.2, np.float32)
    masks = np.zeros((2, H, W), dtype=bool)
    masks[0, 30:60, 20:50] = True
    masks[1, 40:70, 80:110] = True
    depth[masks[0]] = 1.1
    depth[masks[1]] = 1.05
    return {"depth": depth, "instances": Instances(masks), "intrinsics": INTR, "image_id": 3}


OFF = dict(  # noqa: C408 (keyword names, as CorruptionConfig spells them) every effect switched off
    pixel_sigma=(0, 0), scale_sigma=0.0, coarse_sigma=(0, 0), fine_sigma=(0, 0), quantization_probability=0.0,
    edge_dropout=0.0, blob_count=(0, 0), dark_object_probability=0.0, random_dropout=0.0,
)
DEFAULTS = CorruptionConfig()
ONLY = {  # each effect alone
    "correlated": {**OFF, "coarse_sigma": DEFAULTS.coarse_sigma, "fine_sigma": DEFAULTS.fine_sigma},
    "quantization": {**OFF, "quantization_probability": 1.0},
    "edges": {**OFF, "edge_dropout": 0.5},
    "blobs": {**OFF, "blob_count": (3, 3)},
    "dark_objects": {**OFF, "dark_object_probability": 1.0},
}


@pytest.mark.parametrize("effect", sorted(ONLY))
def test_each_corruption_changes_depth_only_and_is_reproducible(effect):
    sample = table_with_box()
    masks_before = sample["instances"].masks.copy()
    cfg = CorruptionConfig(**ONLY[effect])
    a = corrupt_depth(sample["depth"], cfg, np.random.default_rng(5), sample["instances"].masks)
    b = corrupt_depth(sample["depth"], cfg, np.random.default_rng(5), sample["instances"].masks)
    c = corrupt_depth(sample["depth"], cfg, np.random.default_rng(6), sample["instances"].masks)
    assert np.array_equal(a, b), "same seed, same corruption"
    assert not np.array_equal(a, sample["depth"]), f"{effect} changed nothing"
    assert not np.array_equal(a, c), "another seed gives another corruption"
    assert np.array_equal(sample["instances"].masks, masks_before), "labels must stay exact"
    assert a.dtype == np.float32 and np.all(a >= 0) and np.all(np.isfinite(a))


def test_correlated_noise_is_smooth_and_sized_like_a_real_table():
    # Residual std on a flat table at 1 m is a few mm (real Kinect-class: 3.5 mm), and
    # neighbouring pixels move together (that is what makes 5–10 mm bumps).
    cfg = CorruptionConfig(**ONLY["correlated"])
    flat = np.full((H, W), 1.0, np.float32)
    noise = corrupt_depth(flat, cfg, np.random.default_rng(0)) - flat
    assert 0.0003 < noise.std() < 0.01
    step = np.diff(noise, axis=1).std()
    assert step < 0.5 * noise.std(), "correlated noise changes slowly from pixel to pixel"
    field = correlated_field((H, W), (3, 3), 1.0, np.random.default_rng(1))
    assert field.shape == (H, W)


def test_quantization_puts_depth_on_disparity_steps():
    cfg = CorruptionConfig(**dict(ONLY["quantization"], quantization_k=(500.0, 500.0)))
    ramp = np.linspace(0.8, 1.2, H * W, dtype=np.float32).reshape(H, W)
    out = corrupt_depth(ramp, cfg, np.random.default_rng(0))
    steps = 500.0 / out
    assert np.allclose(steps, np.round(steps), atol=1e-3)
    assert len(np.unique(out)) < len(np.unique(ramp))


def test_invalid_pixels_stay_invalid_and_disabled_is_identity():
    sample = table_with_box()
    sample["depth"][:5] = 0.0
    out = corrupt_depth(sample["depth"], CorruptionConfig(), np.random.default_rng(0))
    assert np.all(out[:5] == 0)
    same = corrupt_depth(sample["depth"], CorruptionConfig(enabled=False), np.random.default_rng(0))
    assert np.array_equal(same, sample["depth"])


def test_bad_corruption_settings_are_named():
    with pytest.raises(DataError, match="coarse_sigma"):
        CorruptionConfig(coarse_sigma=(0.004, 0.001))
    with pytest.raises(DataError, match="edge_dropout"):
        CorruptionConfig(edge_dropout=1.5)


def test_rescale_moves_depth_masks_and_intrinsics_together():
    sample = table_with_box()
    small = rescale_sample(sample, 0.5)
    assert small["depth"].shape == (H // 2, W // 2)
    assert small["instances"].image_size == (H // 2, W // 2)
    assert small["intrinsics"].fx == pytest.approx(INTR.fx / 2) and small["intrinsics"].width == W // 2
    for k, code in enumerate((1.1, 1.05)):  # every mask pixel still carries its object's depth
        assert np.all(small["depth"][small["instances"].masks[k]] == np.float32(code))
    assert small["instances"].areas()[0] == pytest.approx(sample["instances"].areas()[0] / 4, rel=0.1)


def test_dataset_augmentation_is_reproducible_from_torch_seed_and_labels_follow():
    sample = table_with_box()
    data = DetectionDataset([sample], "median_relative", corruption=CorruptionConfig(), scale_range=(0.75, 1.33))
    torch.manual_seed(4)
    image_a, target_a = data[0]
    torch.manual_seed(4)
    image_b, target_b = data[0]
    assert torch.equal(image_a, image_b) and torch.equal(target_a["masks"], target_b["masks"])
    assert target_a["masks"].shape[-2:] == image_a.shape[-2:]
    assert target_a["masks"].shape[0] == 2
    with pytest.raises(DataError, match="scale_range"):
        DetectionDataset([sample], "median_relative", scale_range=(1.2, 0.8))


def test_normals_of_a_tilted_plane_point_at_the_camera():
    _, u = np.mgrid[0:H, 0:W].astype(np.float32)
    depth = (1.0 + 0.002 * (u - W / 2)).astype(np.float32)  # a plane tilted about the image's y axis
    normals = surface_normals(organised_points(depth, INTR))
    centre = normals[H // 2, W // 2]
    assert centre[2] < 0, "normals face the camera (−z)"
    assert abs(centre[1]) < 1e-3 and centre[0] > 0.05, "farther to the right: the normal leans to +x"
    for encoding in ("normals", "depth_normals", "xyz"):
        image = encode_model_input(depth, encoding, INTR)
        assert image.shape == (3, H, W) and image.min() >= 0 and image.max() <= 1


def test_corruption_config_fields_have_range_checks_for_every_tuple():
    for f in dataclasses.fields(CorruptionConfig):
        if isinstance(getattr(CorruptionConfig(), f.name), tuple):
            with pytest.raises(DataError):
                CorruptionConfig(**{f.name: (2.0, 1.0)})


def test_datamodule_concatenates_several_roots_with_unique_image_ids(tmp_path):
    from sdmr.data.datamodule import DepthDataModule
    from sdmr.data.toy import make_toy_dataset

    a = make_toy_dataset(tmp_path / "a", num_images=8, height=48, width=64, seed=0)
    b = make_toy_dataset(tmp_path / "b", num_images=8, height=48, width=64, seed=1)
    one = DepthDataModule(str(a), pad_to=None, num_workers=0)
    both = DepthDataModule([str(a), str(b)], pad_to=None, num_workers=0, scale_range=[0.8, 1.25],
                           corruption={"enabled": True})
    one.setup("fit")
    both.setup("fit")
    assert len(both.train_set) == 2 * len(one.train_set)
    ids = [both.train_set.samples[i]["image_id"] for i in range(len(both.train_set))]
    assert len(set(ids)) == len(ids), "image ids must stay unique across the datasets"
    image, target = both.train_set[len(both.train_set) - 1]  # a sample of the second dataset, augmented
    assert image.shape[0] == 3 and target["masks"].shape[-2:] == image.shape[-2:]
    with pytest.raises(DataError, match="corruption"):
        DepthDataModule(str(a), corruption={"sigma": 1.0})
