"""input_scale='auto' (training focal length / the frame's fx) and the depth unit/range warnings."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from sdmr.data.errors import DataError
from sdmr.data.intrinsics import CameraIntrinsics
from sdmr.model.inference import DepthRangeWarning, InputScaleWarning, Segmenter, depth_range_warning
from sdmr.model.method import SDMaskRCNNMethod


def camera(fx: float, height: int = 96, width: int = 128) -> CameraIntrinsics:
    return CameraIntrinsics(fx, fx, (width - 1) / 2, (height - 1) / 2, width, height)


@pytest.fixture(scope="module")
def auto_method(focal_checkpoint):
    """The sdmr Method on a checkpoint trained at fx = 100 px, input_scale left at its default (auto);
    the table trim and the surface check off, so its masks compare with segment_encoded's raw output."""
    return SDMaskRCNNMethod(checkpoint=str(focal_checkpoint), score_threshold=0.0, surface_ratio=None,
                            trim_below_height=None)


def test_auto_scale_is_training_focal_over_camera_focal(auto_method, depth_image):
    segmenter = auto_method.segmenter
    assert segmenter.input_scale == "auto"
    assert segmenter.scale_for(camera(200.0), depth_image.shape) == pytest.approx(0.5)
    assert segmenter.scale_for(camera(80.0), depth_image.shape) == pytest.approx(1.25)
    sample = {"depth": depth_image, "instances": None, "intrinsics": camera(200.0), "image_id": 0}
    predicted = auto_method.predict(sample)  # the Method hands the sample's intrinsics on
    half = segmenter.segment_encoded(segmenter.encode(depth_image), 0.5)
    native = segmenter.segment_encoded(segmenter.encode(depth_image), 1.0)
    assert np.array_equal(predicted.masks, half.masks) and np.array_equal(predicted.scores, half.scores)
    assert not (len(native) == len(half) and np.array_equal(native.scores, half.scores))  # scale mattered
    with pytest.raises(DataError, match="depth is 96×128 but the intrinsics are for 48×64"):
        segmenter.segment(depth_image, camera(200.0, 48, 64))


def test_auto_without_intrinsics_uses_1_with_one_warning(focal_checkpoint, depth_image):
    # raw masks compared: no table trim, no surface check
    segmenter = Segmenter(focal_checkpoint, score_threshold=0.0, surface_ratio=None, trim_below_height=None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = segmenter.segment(depth_image)
        segmenter.segment(depth_image)
    scale_warnings = [w for w in caught if issubclass(w.category, InputScaleWarning)]
    assert len(scale_warnings) == 1
    assert "--intrinsics" in str(scale_warnings[0].message) and "fx ≈ 100 px" in str(scale_warnings[0].message)
    native = segmenter.segment_encoded(segmenter.encode(depth_image), 1.0)
    assert np.array_equal(first.masks, native.masks)


def test_checkpoint_without_focal_length_warns_and_says_what_to_pass(exported_model, depth_image):
    segmenter = Segmenter(exported_model, score_threshold=0.0, surface_ratio=None)
    with pytest.warns(InputScaleWarning, match="does not record its training focal length.*input_scale=<factor>"):
        assert segmenter.scale_for(camera(200.0), depth_image.shape) == 1.0
    assert Segmenter(exported_model, input_scale=0.5).scale_for(camera(200.0), depth_image.shape) == 0.5


def test_millimetres_given_as_metres_trigger_the_unit_warning(auto_method, depth_image):
    with pytest.warns(DepthRangeWarning, match=r"millimetres read as metres.*--depth-scale 0\.001"):
        auto_method.segmenter.segment(depth_image * 1000.0, camera(200.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DepthRangeWarning)  # the same frame in metres: silent
        auto_method.segmenter.segment(depth_image, camera(200.0))


def test_depth_range_warning_names_the_factor():
    depth = np.full((8, 8), 0.9, dtype=np.float32)
    assert depth_range_warning(depth, (0.6, 1.6)) is None
    assert depth_range_warning(depth * 2.5, (0.6, 1.6)) is None  # 2.25 m: within the slack
    assert "metres read as millimetres" in depth_range_warning(depth / 1000, (0.6, 1.6))
    assert "--depth-scale 1000" in depth_range_warning(depth / 1000, (0.6, 1.6))
    assert "--depth-scale 0.01" in depth_range_warning(depth * 100, (0.6, 1.6))  # centimetres
    far = depth_range_warning(depth * 5, (0.6, 1.6))  # 4.5 m, a plausible but untrained distance
    assert far is not None and "--depth-scale" not in far and "trained for" in far
