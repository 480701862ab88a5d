"""``sdmr-segment`` as a user runs it: bundled model, every depth format, COCO JSON, bad files, wrong units."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from sdmr.data.depth_io import write_depth
from sdmr.data.errors import DataError
from sdmr.data.folder import sized_camera
from sdmr.data.instances import Instances
from sdmr.model.bundled import WEIGHTS_DIR_ENV
from sdmr.model.verify import mask_heights
from sdmr.segment import input_files, main, parse_intrinsics

#: fx of the test camera: with the bundle's training focal length (100 px) the auto scale is 0.5.
CAMERA = "200,200,63.5,47.5"


def parse_camera(text: str, shape: tuple[int, int]):
    return sized_camera(parse_intrinsics(text), shape)


@pytest.fixture
def bundled(bundle_dir, monkeypatch):
    """``sdmr-segment`` without --checkpoint finds this tiny bundle, as an install would find its own."""
    monkeypatch.setenv(WEIGHTS_DIR_ENV, str(bundle_dir))
    return bundle_dir


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main([*args, "--score-threshold", "0", "--no-progress"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_png_and_npy_of_one_frame_give_the_same_masks_with_the_bundled_model(
    bundled, depth_image, tmp_path, capsys
):
    write_depth(tmp_path / "png" / "frame.png", depth_image, "mm16")
    write_depth(tmp_path / "npy" / "frame.npy", depth_image, "npy")
    write_depth(tmp_path / "tif" / "frame.tif", depth_image, "tiff")
    outputs = {}
    for kind in ("png", "npy", "tif"):
        out = tmp_path / f"out_{kind}"
        code, stdout, stderr = run(capsys, str(tmp_path / kind), "--out", str(out), "--intrinsics", CAMERA)
        assert code == 0 and "1 image(s) segmented, 0 already done, 0 failed" in stdout, stdout
        assert "warning" not in stderr  # intrinsics given: the auto scale resolved silently
        outputs[kind] = out
    label = np.asarray(Image.open(outputs["png"] / "labels" / "frame.png"))
    assert label.shape == (96, 128) and label.max() >= 1
    assert np.asarray(Image.open(outputs["png"] / "overlays" / "frame.png")).shape == (96, 128, 3)
    detections = json.loads((outputs["png"] / "detections" / "frame.json").read_text())
    for kind in ("npy", "tif"):
        assert np.array_equal(np.asarray(Image.open(outputs[kind] / "labels" / "frame.png")), label)
        assert json.loads((outputs[kind] / "detections" / "frame.json").read_text()) == detections
    assert len(detections) == label.max() and all(0 <= d["score"] <= 1 for d in detections)
    best = mask_utils.decode(detections[0]["segmentation"]).astype(bool)
    assert np.array_equal(best, label == 1)  # painted last: the best detection wins every overlap
    images = json.loads((outputs["png"] / "images.json").read_text())
    assert images == [{"id": 0, "file_name": str(tmp_path / "png" / "frame.png"), "name": "frame",
                       "height": 96, "width": 128}]
    assert len(json.loads((outputs["png"] / "detections.json").read_text())) == len(detections)


def test_a_corrupt_file_does_not_stop_the_folder(bundled, depth_image, tmp_path, capsys):
    frames = tmp_path / "frames"
    write_depth(frames / "a.npy", depth_image, "npy")
    write_depth(frames / "sub" / "b.png", depth_image, "mm16")
    (frames / "c.npy").write_bytes(b"\x93NUMPY truncated")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(frames / "wisdom.png")  # 8-bit: needs its flag
    out = tmp_path / "out"
    code, stdout, _ = run(capsys, str(frames), "--out", str(out), "--intrinsics", CAMERA)
    assert code == 1
    assert "2 image(s) segmented, 0 already done, 2 failed" in stdout
    failed = stdout.split("failed:")[1]
    assert "c.npy: cannot read depth file" in failed and "wisdom.png: uint8" in failed
    assert "--depth-encoding wisdom8" in failed  # the fix names the flag in CLI spelling
    assert (out / "labels" / "a.png").is_file() and (out / "labels" / "sub" / "b.png").is_file()
    assert len(json.loads((out / "images.json").read_text())) == 2
    code, stdout, _ = run(capsys, str(frames), "--out", str(out), "--intrinsics", CAMERA)
    assert code == 1 and "0 image(s) segmented, 2 already done, 2 failed" in stdout


def test_millimetres_as_metres_warn_and_depth_scale_fixes_it(bundled, depth_image, tmp_path, capsys):
    write_depth(tmp_path / "mm.npy", depth_image * 1000.0, "npy")
    code, stdout, stderr = run(capsys, str(tmp_path / "mm.npy"), "--out", str(tmp_path / "o1"),
                               "--intrinsics", CAMERA)
    assert code == 0
    assert "mm.npy: median depth 800 m" in stderr and "--depth-scale 0.001" in stderr
    assert "DepthRangeWarning for 1 image(s)" in stdout
    code, stdout, stderr = run(capsys, str(tmp_path / "mm.npy"), "--out", str(tmp_path / "o2"),
                               "--intrinsics", CAMERA, "--depth-scale", "0.001")
    assert code == 0 and "warning" not in stderr and "Warning" not in stdout


def test_geometric_verification_flag_drops_flat_masks(bundled, depth_image, tmp_path, capsys):
    write_depth(tmp_path / "frame.npy", depth_image, "npy")
    counts = {}
    for flag in ([], ["--min-height-above-plane", "0.015"]):
        out = tmp_path / f"out{len(flag)}"
        # the default table trim off, so that only the filter decides which masks stay
        args = ("--out", str(out), "--intrinsics", CAMERA, "--trim-below-height", "0", *flag)
        assert run(capsys, str(tmp_path / "frame.npy"), *args)[0] == 0
        detections = json.loads((out / "detections" / "frame.json").read_text())
        masks = np.stack([mask_utils.decode(d["segmentation"]).astype(bool) for d in detections])
        counts[len(flag)] = len(masks)
    heights = mask_heights(Instances(masks=masks), depth_image, parse_camera(CAMERA, depth_image.shape))
    assert counts[0] > counts[2] > 0 and np.all(heights >= 0.015)  # the boxes stand 5 and 8 cm tall


def test_without_intrinsics_one_warning_says_what_to_pass(bundled, depth_image, tmp_path, capsys):
    for i in range(2):
        write_depth(tmp_path / "in" / f"f{i}.npy", depth_image, "npy")
    code, _, stderr = run(capsys, str(tmp_path / "in"), "--out", str(tmp_path / "out"))
    assert code == 0 and stderr.count("input_scale='auto' uses 1.0") == 1 and "--intrinsics" in stderr


def test_usage_errors_exit_2_before_any_image(bundled, depth_image, tmp_path, capsys, monkeypatch):
    for folder in ("a", "b"):
        write_depth(tmp_path / folder / "frame.npy", depth_image, "npy")
    code, _, stderr = run(capsys, str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "o"))
    assert code == 2 and "output name(s) would be written by several inputs" in stderr  # errors go to stderr
    assert "common parent folder" in stderr and not (tmp_path / "o").exists()
    assert [f.name for f in input_files([str(tmp_path)])] == ["a/frame", "b/frame"]  # the parent works
    with pytest.raises(DataError, match="several inputs"):  # a glob's matches are named by their stem
        input_files([str(tmp_path / "*" / "frame.npy")])
    code, _, stderr = run(capsys, str(tmp_path / "a"), "--out", str(tmp_path / "o"), "--intrinsics", "1,2,3")
    assert code == 2 and "intrinsics" in stderr
    monkeypatch.setenv(WEIGHTS_DIR_ENV, str(tmp_path / "empty"))
    code, _, stderr = run(capsys, str(tmp_path / "a"), "--out", str(tmp_path / "o"))
    assert code == 2 and "no bundled model is installed" in stderr and "--checkpoint PATH" in stderr


def test_output_folder_inside_the_input_folder_is_not_read_back(bundled, depth_image, tmp_path, capsys):
    write_depth(tmp_path / "frame.png", depth_image, "mm16")
    out = tmp_path / "results"
    assert run(capsys, str(tmp_path), "--out", str(out), "--intrinsics", CAMERA)[0] == 0
    assert [f.name for f in input_files([str(tmp_path)], out=out)] == ["frame"]
