"""The data contract modules: depth codecs, input encodings, Instances, CameraIntrinsics, atomic writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sdmr.data.atomic import atomic_save_npy, atomic_write_text
from sdmr.data.depth_io import (
    WISDOM_MAX_DEPTH,
    WISDOM_MIN_DEPTH,
    read_depth,
    valid_mask,
    validate_depth,
    write_depth,
)
from sdmr.data.errors import DataError
from sdmr.data.input_encoding import encode_depth_for_model, fill_invalid_nearest
from sdmr.data.instances import Instances
from sdmr.data.intrinsics import CameraIntrinsics

RNG = np.random.default_rng(0)
STEP = (WISDOM_MAX_DEPTH - WISDOM_MIN_DEPTH) / 255


def _depth(h: int = 30, w: int = 40) -> np.ndarray:
    return RNG.uniform(0.3, 1.2, size=(h, w)).astype(np.float32)


# ------------------------------------------------------------------ depth codecs
def test_wisdom8_round_trip_within_quantisation_and_three_channels(tmp_path: Path) -> None:
    depth = _depth()
    write_depth(tmp_path / "d.png", depth, "wisdom8")
    raw = np.asarray(Image.open(tmp_path / "d.png"))
    assert raw.dtype == np.uint8 and raw.shape == (30, 40, 3)
    assert (raw[..., 0] == raw[..., 2]).all()
    back = read_depth(tmp_path / "d.png", "wisdom8")
    assert back.dtype == np.float32
    assert np.abs(back - depth).max() <= STEP / 2 + 1e-6
    assert np.abs(back - depth).max() > 0  # it is lossy, the test would notice an exact pass-through


def test_wisdom8_clips_outside_its_window(tmp_path: Path) -> None:
    depth = np.array([[0.1, 2.0], [0.5, 0.5]], np.float32)
    write_depth(tmp_path / "c.png", depth, "wisdom8")
    back = read_depth(tmp_path / "c.png", "wisdom8")
    np.testing.assert_allclose(back[0], [WISDOM_MIN_DEPTH, WISDOM_MAX_DEPTH], atol=1e-6)


def test_mm16_round_trip_within_half_mm_and_zero_invalid(tmp_path: Path) -> None:
    depth = _depth()
    depth[0, :5] = np.nan
    depth[1, :5] = 0
    write_depth(tmp_path / "m.png", depth, "mm16")
    assert np.asarray(Image.open(tmp_path / "m.png")).dtype == np.uint16
    back = read_depth(tmp_path / "m.png", "mm16")
    assert (back[:2, :5] == 0).all()
    ok = valid_mask(depth)
    assert np.abs(back[ok] - depth[ok]).max() <= 0.0005 + 1e-6
    np.testing.assert_array_equal(valid_mask(back), ok)


def test_npy_and_npz_are_exact_including_nan(tmp_path: Path) -> None:
    depth = _depth()
    depth[3, 3] = np.nan
    write_depth(tmp_path / "d.npy", depth, "npy")
    np.testing.assert_array_equal(read_depth(tmp_path / "d.npy", "npy"), depth)
    np.savez(tmp_path / "d.npz", depth=depth)
    np.testing.assert_array_equal(read_depth(tmp_path / "d.npz", "npy"), depth)
    np.save(tmp_path / "hw1.npy", depth[..., None])  # WISDOM-Real's depth_ims_numpy layout
    np.testing.assert_array_equal(read_depth(tmp_path / "hw1.npy", "npy"), depth)
    np.savez(tmp_path / "other.npz", z=depth)
    with pytest.raises(DataError, match="no 'depth' array") as err:
        read_depth(tmp_path / "other.npz", "npy")
    assert "other.npz" in str(err.value)


def test_all_zero_mm16_png_is_rejected(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((8, 8), np.uint16)).save(tmp_path / "z.png")
    with pytest.raises(DataError, match="no valid pixel") as err:
        read_depth(tmp_path / "z.png", "mm16")
    assert "z.png" in str(err.value) and "Fix:" in str(err.value)


@pytest.mark.parametrize(
    ("depth", "match"),
    [
        (np.full((4, 4), -0.5, np.float32), "negative"),
        (np.full((4, 4), 800, np.uint16), "float metres"),
        (np.zeros((4, 4), np.float32), "no valid pixel"),
    ],
)
def test_validate_depth_rejects(depth: np.ndarray, match: str) -> None:
    with pytest.raises(DataError, match=match):
        validate_depth(depth, "x.npy")


def test_missing_depth_file_names_it(tmp_path: Path) -> None:
    for encoding, name in (("mm16", "gone.png"), ("npy", "gone.npy")):
        with pytest.raises(DataError, match="file not found") as err:
            read_depth(tmp_path / name, encoding)
        assert name in str(err.value)


# ------------------------------------------------------------------ input encodings
def test_fill_invalid_nearest_copies_the_closest_valid_pixel() -> None:
    depth = np.array([[1.0, 0.0, 0.0, 2.0]], np.float32)
    depth_nan = np.array([[np.nan, 3.0]], np.float32)
    np.testing.assert_array_equal(fill_invalid_nearest(depth), [[1.0, 1.0, 2.0, 2.0]])
    np.testing.assert_array_equal(fill_invalid_nearest(depth_nan), [[3.0, 3.0]])
    with pytest.raises(DataError):
        fill_invalid_nearest(np.zeros((2, 2), np.float32))


def test_input_encodings() -> None:
    depth = np.array([[0.25, 0.75, 1.25, 2.0]], np.float32)
    np.testing.assert_allclose(encode_depth_for_model(depth, "wisdom_fixed"), [[0.0, 0.5, 1.0, 1.0]])
    rel = encode_depth_for_model(np.array([[0.9, 1.0, 1.1, 1.0, 1.0]], np.float32), "median_relative")
    np.testing.assert_allclose(rel, [[0.375, 0.5, 0.625, 0.5, 0.5]], atol=1e-6)
    with pytest.raises(DataError, match="unknown input encoding"):
        encode_depth_for_model(depth, "minmax")


# ------------------------------------------------------------------ Instances
def _masks() -> np.ndarray:
    masks = np.zeros((3, 10, 12), bool)
    masks[0, 1:4, 2:6] = True
    masks[1, 5:9, 0:3] = True
    masks[2, 6:7, 8:12] = True
    return masks


def test_label_image_round_trip_and_geometry() -> None:
    inst = Instances(_masks(), scores=[0.9, 0.5, 0.7], object_ids=[10, 20, 30])
    label = inst.to_label_image()
    assert label.dtype == np.uint16 and set(np.unique(label)) == {0, 1, 2, 3}
    back = Instances.from_label_image(label)
    np.testing.assert_array_equal(back.masks, inst.masks)
    np.testing.assert_array_equal(back.object_ids, [1, 2, 3])
    np.testing.assert_array_equal(inst.areas(), [12, 12, 4])
    np.testing.assert_array_equal(inst.boxes_xyxy(), [[2, 1, 6, 4], [0, 5, 3, 9], [8, 6, 12, 7]])
    picked = inst.select([2, 0])
    np.testing.assert_array_equal(picked.object_ids, [30, 10])
    np.testing.assert_allclose(picked.scores, [0.7, 0.9])
    only_big = Instances.from_label_image(label, background=(0, 1), min_pixels=5)
    np.testing.assert_array_equal(only_big.object_ids, [2])
    assert len(Instances.empty(4, 5, with_scores=True)) == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"masks": np.zeros((10, 12), bool)}, "N×H×W"),
        ({"masks": np.zeros((1, 10, 12), np.uint8)}, "must be bool"),
        ({"masks": np.zeros((2, 10, 12), bool), "scores": [0.1]}, "scores has 1"),
        ({"masks": np.zeros((1, 10, 12), bool), "scores": [np.nan]}, "NaN"),
        ({"masks": np.zeros((1, 10, 12), bool), "amodal": np.zeros((1, 9, 12), bool)}, "amodal"),
        ({"masks": np.zeros((1, 10, 12), bool), "object_ids": [1, 2]}, "object_ids has 2"),
    ],
)
def test_instances_validation(kwargs: dict, match: str) -> None:
    with pytest.raises(DataError, match=match):
        Instances(**kwargs)


# ------------------------------------------------------------------ CameraIntrinsics
def test_intrinsics_intr_round_trip_and_foreign_keys(tmp_path: Path) -> None:
    camera = CameraIntrinsics(612.9, 613.2, 322.5, 248.2, 640, 480, frame="primesense")
    camera.save(tmp_path / "cam.intr")
    data = json.loads((tmp_path / "cam.intr").read_text())
    assert data["_fx"] == 612.9 and data["_width"] == 640 and data["_frame"] == "primesense"
    assert CameraIntrinsics.load(tmp_path / "cam.intr") == camera
    uois = {
        "img_width": 640,
        "img_height": 480,
        "fx": 612.937,
        "fy": 613.173,
        "x_offset": 322.549,
        "y_offset": 248.158,
    }
    loaded = CameraIntrinsics.from_dict(uois)
    assert (loaded.cx, loaded.cy, loaded.width) == (322.549, 248.158, 640)
    np.testing.assert_allclose(camera.K, [[612.9, 0, 322.5], [0, 613.2, 248.2], [0, 0, 1]])


def test_intrinsics_scaling_keeps_pixel_centres() -> None:
    camera = CameraIntrinsics(100.0, 100.0, 31.5, 23.5, 64, 48)
    half = camera.scaled(0.5)
    assert (half.width, half.height, half.fx) == (32, 24, 50.0)
    assert (half.cx, half.cy) == (15.5, 11.5)  # still the image centre
    with pytest.raises(DataError, match="positive focal"):
        CameraIntrinsics(0.0, 1.0, 0, 0, 1, 1)


def test_intrinsics_bad_json_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "bad.intr").write_text("{ not json")
    with pytest.raises(DataError, match="not valid JSON") as err:
        CameraIntrinsics.load(tmp_path / "bad.intr")
    assert "bad.intr" in str(err.value) and "Fix:" in str(err.value)


# ------------------------------------------------------------------ atomic writes
def test_atomic_writes_replace_whole_files(tmp_path: Path) -> None:
    atomic_write_text(tmp_path / "sub" / "a.txt", "first")
    atomic_write_text(tmp_path / "sub" / "a.txt", "second")
    assert (tmp_path / "sub" / "a.txt").read_text() == "second"
    atomic_save_npy(tmp_path / "x.npy", np.arange(3))
    np.testing.assert_array_equal(np.load(tmp_path / "x.npy"), np.arange(3))
    with pytest.raises(ValueError):
        atomic_save_npy(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object))  # pickles are refused
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub", "x.npy"]


def test_zero_instances_have_zero_areas_and_boxes() -> None:
    empty = Instances.empty(6, 7)
    assert empty.areas().shape == (0,) and empty.boxes_xyxy().shape == (0, 4)
    assert empty.to_label_image().max() == 0
