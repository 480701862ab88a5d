"""The one inference path (Segmenter), the sdmr Method adapter and the sdmr-segment CLI."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from sdmr.bench.method import Method
from sdmr.data.depth_io import read_depth, write_depth
from sdmr.data.errors import DataError
from sdmr.data.input_encoding import encode_depth_for_model
from sdmr.data.instances import Instances
from sdmr.model.bundled import WEIGHTS_DIR_ENV
from sdmr.model.inference import Segmenter
from sdmr.model.method import SDMaskRCNNMethod
from sdmr.segment import label_image, main

# Every detection of the tiny random model, and no surface-patch stage: its masks are flat patches of
# the test depth that the (default-on) stage would drop, and these tests compare raw detections.
RAW = {"score_threshold": 0.0, "surface_ratio": None}


def test_segmenter_returns_scored_instances_at_input_size(exported_model, depth_image):
    result = Segmenter(exported_model, **RAW).segment(depth_image)
    assert isinstance(result, Instances) and result.image_size == (96, 128)
    assert 0 < len(result) <= 10
    assert np.all(np.diff(result.scores) <= 0)
    high = Segmenter(exported_model, score_threshold=float(result.scores[0]) + 1e-6).segment(depth_image)
    assert len(high) == 0


def test_segmenter_rejects_bad_depth(exported_model, depth_image):
    segmenter = Segmenter(exported_model, **RAW)
    with pytest.raises(DataError, match="single-channel"):
        segmenter.segment(np.repeat(depth_image[..., None], 3, axis=2))
    bad = depth_image.copy()
    bad[5, 5] = np.inf
    with pytest.raises(DataError, match="inf"):
        segmenter.segment(bad)


def test_method_adapter_predicts_like_the_segmenter(exported_model, depth_image, tmp_path, monkeypatch):
    method = SDMaskRCNNMethod(checkpoint=str(exported_model), **RAW)
    assert isinstance(method, Method) and method.name == "sdmr"
    sample = {"depth": depth_image, "instances": None, "intrinsics": None, "image_id": 0}
    predicted = method.predict(sample)
    direct = Segmenter(exported_model, **RAW).segment(depth_image)
    assert np.array_equal(predicted.masks, direct.masks) and np.allclose(predicted.scores, direct.scores)
    monkeypatch.setenv(WEIGHTS_DIR_ENV, str(tmp_path))  # no bundle there, whatever the package ships
    with pytest.raises(DataError, match="no bundled model is installed.*Fix:.*--checkpoint PATH"):
        SDMaskRCNNMethod().predict(sample)


def test_every_method_parameter_reaches_the_segmenter(exported_model, depth_image):
    settings = {**RAW, "max_detections": 7, "num_proposals": 50, "input_scale": 0.5}
    method = SDMaskRCNNMethod(checkpoint=str(exported_model), **settings)
    sample = {"depth": depth_image, "instances": None, "intrinsics": None, "image_id": 0}
    predicted = method.predict(sample)
    segmenter = method.segmenter
    assert segmenter.input_scale == 0.5 and segmenter.model.roi_heads.detections_per_img == 7
    assert segmenter.model.rpn._post_nms_top_n["testing"] == 50
    direct = Segmenter(exported_model, **settings).segment(depth_image)
    assert np.array_equal(predicted.masks, direct.masks) and len(predicted) <= 7


def test_label_image_gives_overlaps_to_the_best_score():
    masks = np.zeros((2, 4, 4), dtype=bool)
    masks[0, :2] = True
    masks[1, 1:] = True
    label = label_image(Instances(masks=masks, scores=np.array([0.9, 0.5])))
    assert label.dtype == np.uint8
    assert (label[:2] == 1).all() and (label[2:] == 2).all()


def test_segment_cli_writes_labels_and_overlays_and_resumes(exported_model, depth_image, tmp_path, capsys):
    folder = tmp_path / "frames"
    for i in range(2):
        write_depth(folder / f"frame_{i}.png", depth_image + 0.01 * i, "mm16")
    out = tmp_path / "out"
    args = [
        str(exported_model),
        str(folder),
        "--depth-encoding",
        "mm16",
        "--out",
        str(out),
        "--score-threshold",
        "0",
        "--surface-ratio",
        "0",
    ]
    assert main(args) == 0
    for i in range(2):
        label = np.asarray(Image.open(out / "labels" / f"frame_{i}.png"))
        overlay = np.asarray(Image.open(out / "overlays" / f"frame_{i}.png"))
        assert label.shape == (96, 128) and label.max() >= 1
        assert overlay.shape == (96, 128, 3)
        depth = read_depth(folder / f"frame_{i}.png", "mm16")
        grey = (encode_depth_for_model(depth, "median_relative") * 255).round().astype(np.uint8)
        background = label == 0
        assert background.any() and np.array_equal(overlay[background], np.stack([grey[background]] * 3, 1))
    assert main(args) == 0
    assert "0 image(s) segmented, 2 already done" in capsys.readouterr().out


def test_segment_cli_reports_missing_checkpoint_and_input(tmp_path, depth_image):
    write_depth(tmp_path / "d.npy", depth_image, "npy")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sdmr.segment",
            str(tmp_path / "missing.ckpt"),
            str(tmp_path / "d.npy"),
            "--depth-encoding",
            "npy",
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (
        proc.returncode == 2 and "missing.ckpt" in proc.stderr and "checkpoint file not found" in proc.stderr
    )  # the error on stderr, like every CLI's
    assert main(["x.ckpt", str(tmp_path / "nothing"), "--depth-encoding", "npy", "--out", str(tmp_path)]) == 2


def test_speed_options_keep_the_detections(exported_model, depth_image):
    base = Segmenter(exported_model, **RAW).segment(depth_image)
    nhwc = Segmenter(exported_model, **RAW, channels_last=True).segment(depth_image)
    assert len(nhwc) == len(base) and np.allclose(nhwc.scores, base.scores, atol=1e-4)
    assert (nhwc.masks == base.masks).mean() > 0.999
    fewer = Segmenter(exported_model, **RAW, num_proposals=50)
    assert fewer.model.rpn.post_nms_top_n() == 50
    assert len(fewer.segment(depth_image)) <= 10


def test_int8_box_head_keeps_confident_detections(exported_model, depth_image):
    base = Segmenter(exported_model, **RAW).segment(depth_image)
    fast = Segmenter(exported_model, **RAW, int8_box_head=True)
    assert (
        "Quantized" in type(fast.model.roi_heads.box_head.fc6).__name__
        or "quantized" in type(fast.model.roi_heads.box_head.fc6).__module__
    )
    result = fast.segment(depth_image)
    assert result.image_size == base.image_size and abs(len(result) - len(base)) <= 2
    with pytest.raises(DataError, match="CPU only"):
        Segmenter(exported_model, device="meta", int8_box_head=True)


def test_input_scale_returns_masks_at_the_input_size(exported_model, depth_image):
    half = Segmenter(exported_model, **RAW, input_scale=0.5)
    result = half.segment(depth_image)
    assert result.image_size == (96, 128) and len(result) > 0
    with pytest.raises(DataError, match="input_scale must be positive or 'auto'"):
        Segmenter(exported_model, input_scale=0)
    with pytest.raises(DataError, match="input_scale must be positive.*Fix:"):
        Segmenter("no_such_checkpoint.ckpt", input_scale=-1)  # checked before loading anything


def test_segmenter_scopes_its_thread_count_to_the_forward_pass(exported_model, depth_image):
    import torch

    from sdmr.model.inference import torch_threads

    before = torch.get_num_threads()
    wanted = 1 if before != 1 else 2
    seen: list[int] = []
    segmenter = Segmenter(exported_model, **RAW, num_threads=wanted)
    assert torch.get_num_threads() == before  # the constructor leaves the process alone
    hook = segmenter.model.backbone.register_forward_hook(lambda *_: seen.append(torch.get_num_threads()))
    try:
        segmenter.segment(depth_image)
    finally:
        hook.remove()
    assert seen == [wanted] and torch.get_num_threads() == before
    with pytest.raises(RuntimeError), torch_threads(wanted):
        raise RuntimeError("restored on errors too")
    assert torch.get_num_threads() == before
