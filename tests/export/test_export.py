"""Export → ONNX → ONNX Runtime (and OpenVINO) with a small, randomly initialised model, for real.

The model is the default ResNet-35 at tiny images with few proposals; at score threshold 0 an
untrained model still returns its 10 detections, so boxes, scores and masks are all compared.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from sdmr.data.errors import DataError
from sdmr.errors import ConfigError
from sdmr.export import backends
from sdmr.export.backends import META_FILE, ONNX_FILE, OnnxRuntimeBackend, read_export
from sdmr.export.cli import main as export_main
from sdmr.export.onnx_export import TOLERANCES, compare_outputs, verification_depths, verify
from sdmr.model.builder import build_sdmask_rcnn
from sdmr.model.checkpoint import export_model
from sdmr.model.inference import Segmenter

SMALL = {"anchor_sizes": [8, 16, 32, 64, 128], "rpn_pre_nms_top_n_test": 200, "rpn_post_nms_top_n_test": 50,
         "box_detections_per_img": 10}
#: Every detection, no geometric stage: the backends' raw agreement is what is tested.
RAW = {"score_threshold": 0.0, "input_scale": 1.0, "trim_below_height": None, "surface_ratio": None}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "small.pt"
    export_model(build_sdmask_rcnn(**SMALL), SMALL, "median_relative", path, train_focal_px=120.0)
    return path


@pytest.fixture(scope="module")
def export_dir(checkpoint, tmp_path_factory) -> Path:
    """``sdmr-export`` itself (the CLI), ONNX only: the fixture every other test reads."""
    out = tmp_path_factory.mktemp("export") / "deploy"
    assert export_main([str(checkpoint), "--out", str(out), "--score-threshold", "0", "--no-openvino"]) == 0
    return out


def test_export_folder_records_what_a_deployment_needs(export_dir, checkpoint):
    assert sorted(p.name for p in export_dir.iterdir()) == ["MODEL_CARD.md", META_FILE, ONNX_FILE]
    meta = json.loads((export_dir / META_FILE).read_text())
    assert meta["model"]["input_spec"]["encoding"] == "median_relative"
    assert meta["model"]["train_focal_px"] == 120.0
    assert meta["settings"] == {"score_threshold": 0.0, "num_proposals": 50, "pre_nms_proposals": 200,
                                "max_detections": 10, "box_nms_thresh": 0.35}
    assert meta["opset"] == 17 and {"torch", "torchvision", "onnx", "onnxruntime"} <= set(meta["versions"])
    results = meta["verification"]["results"]["onnxruntime"]
    assert [r["size"] for r in results] == [[384, 512], [250, 330]]
    assert all(r["ok"] and r["detections"] == [10, 10] for r in results)
    assert "median_relative" in (export_dir / "MODEL_CARD.md").read_text()
    export = read_export(export_dir / ONNX_FILE)  # a model file of the folder opens it too
    assert export.input_spec.encoding == "median_relative" and export.model_file.train_focal_px == 120.0


@pytest.mark.parametrize("size", [(64, 96), (100, 72)])
def test_onnx_matches_torch_within_tolerances_on_two_sizes(export_dir, checkpoint, size):
    torch_seg = Segmenter(checkpoint, **RAW)
    runtime = OnnxRuntimeBackend(export_dir / ONNX_FILE, num_threads=1)
    image = torch_seg.encode(verification_depths((size,), seed=3)[0])
    (report,) = verify(torch_seg.backend, runtime, [image], 0.0)
    assert report["detections"] == [10, 10] and report["matched"] == 10
    assert report["ok"], report["failures"]
    ours = runtime.forward(image)
    assert ours["masks"].shape == (10, 1, *size)  # dynamic image size: masks come back at the input's size


def test_the_comparison_can_fail():
    """A box moved by one pixel, or a confident detection on one side only, is outside the tolerances."""
    masks = torch.rand(2, 1, 8, 8)
    ref = {"boxes": torch.tensor([[0.0, 0, 40, 40], [20, 20, 80, 80]]), "scores": torch.tensor([0.9, 0.8]), "masks": masks}
    assert compare_outputs(ref, dict(ref), 0.5)["ok"]
    moved = dict(ref, boxes=ref["boxes"] + torch.tensor([[1.0, 0, 1, 0], [0, 0, 0, 0]]))
    assert compare_outputs(ref, moved, 0.5)["failures"] == ["box_px 1 > 0.1"]
    one = {k: v[:1] for k, v in ref.items()}
    assert not compare_outputs(ref, one, 0.5)["ok"]
    assert compare_outputs(ref, one, 0.8 - TOLERANCES["borderline_score"] / 2)["ok"]  # a score at the threshold


def test_backends_share_one_preprocessing(export_dir, checkpoint, monkeypatch):
    """The same depth through each backend: the encoded input each backend's forward receives is identical."""
    depth = verification_depths(((90, 120),), seed=5)[0]
    seen, results = {}, {}
    names = ["torch", "onnxruntime"] + (["openvino"] if importlib.util.find_spec("openvino") else [])
    for name in names:
        segmenter = Segmenter(checkpoint if name == "torch" else export_dir, backend=name, **RAW)
        forward = segmenter.backend.forward
        monkeypatch.setattr(segmenter.backend, "forward",
                            lambda image, name=name, forward=forward: seen.setdefault(name, image.clone()) is not None
                            and forward(image))
        results[name] = segmenter.segment(depth)
    for name in names[1:]:
        assert torch.equal(seen[name], seen["torch"])
        assert len(results[name]) == len(results["torch"]) == 10
        np.testing.assert_allclose(results[name].scores, results["torch"].scores, atol=TOLERANCES["score"])
        agree = (results[name].masks == results["torch"].masks).mean()
        assert agree > 0.99, f"{name}: {agree:.4f} of mask pixels agree with torch"


def test_truncated_onnx_is_a_clear_error(export_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(export_dir, broken)
    data = (broken / ONNX_FILE).read_bytes()
    (broken / ONNX_FILE).write_bytes(data[: len(data) // 3])
    with pytest.raises(DataError, match="checksum.*truncated or changed") as err:
        Segmenter(broken, backend="onnxruntime", **RAW)
    assert err.value.path == broken / ONNX_FILE and "sdmr-export" in err.value.fix


def test_a_file_that_is_not_onnx_is_a_clear_error(export_dir, tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"this is not a protobuf")
    with pytest.raises(DataError, match="cannot load the exported model") as err:
        OnnxRuntimeBackend(tmp_path / "model.onnx")
    assert "truncated or not an sdmr export" in err.value.fix
    (tmp_path / "lonely.onnx").write_bytes((export_dir / ONNX_FILE).read_bytes()[:100])
    with pytest.raises(DataError, match="export metadata not found"):  # an .onnx without its model.json
        Segmenter(tmp_path / "lonely.onnx", backend="onnxruntime")
    (tmp_path / META_FILE).write_text(json.dumps({"format": "something else"}))
    with pytest.raises(DataError, match="not an sdmr export"):
        read_export(tmp_path)


def test_settings_the_graph_cannot_honour_are_refused(export_dir, tmp_path):
    with pytest.raises(ConfigError, match="unknown backend"):
        Segmenter(export_dir, backend="tensorrt")
    strict = Segmenter(export_dir, backend="onnxruntime", **dict(RAW, score_threshold=0.3))
    assert strict.score_threshold == 0.3  # above the exported 0.0: Segmenter filters after the graph
    for bad, match in (({"num_proposals": 500}, "num_proposals=500 differs"),
                       ({"channels_last": True}, "backend='torch' only")):
        with pytest.raises(ConfigError, match=match):
            Segmenter(export_dir, backend="onnxruntime", **RAW, **bad)
    high = tmp_path / "high"  # the same graph, recorded as exported at 0.5
    shutil.copytree(export_dir, high)
    meta = json.loads((high / META_FILE).read_text())
    meta["settings"]["score_threshold"] = 0.5
    (high / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match="below the 0.5 this model was exported with"):
        Segmenter(high, backend="onnxruntime", **dict(RAW, score_threshold=0.4))


def test_export_refuses_to_overwrite_and_bad_options_exit_2(export_dir, checkpoint, capsys):
    assert export_main([str(checkpoint), "--out", str(export_dir)]) == 2
    assert "an export already exists here" in capsys.readouterr().err
    assert export_main([str(checkpoint), "--out", str(export_dir.parent / "x"), "--opset", "9"]) == 2
    assert "opset 11 or later" in capsys.readouterr().err
    assert not (export_dir.parent / "x").exists()


@pytest.mark.slow
def test_a_checkpoint_is_exported_once_on_first_use(checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv(backends.CACHE_ENV, str(tmp_path / "cache"))
    first = Segmenter(checkpoint, backend="onnxruntime", **RAW)
    assert first.export.folder.parent == tmp_path / "cache" and first.export.settings["score_threshold"] == 0.0
    monkeypatch.setattr("sdmr.export.onnx_export.export_onnx", lambda *a, **k: pytest.fail("exported twice"))
    again = Segmenter(checkpoint, backend="onnxruntime", **RAW)
    assert again.export.folder == first.export.folder
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.startswith(".")]  # no temp folder left


@pytest.mark.slow
def test_openvino_ir_matches_torch(checkpoint, tmp_path):
    pytest.importorskip("openvino")
    from sdmr.export.onnx_export import export_onnx

    meta = export_onnx(checkpoint, tmp_path / "ov", score_threshold=0.0, openvino=True,
                       verify_depths=verification_depths(((64, 96), (100, 72))))
    assert {"onnx", "openvino"} <= set(meta["files"])
    assert all(r["ok"] and r["detections"] == [10, 10] for r in meta["verification"]["results"]["openvino"])
    depth = verification_depths(((80, 80),), seed=9)[0]
    ours, ref = Segmenter(tmp_path / "ov", backend="openvino", **RAW).segment(depth), Segmenter(checkpoint, **RAW).segment(depth)
    np.testing.assert_allclose(ours.scores, ref.scores, atol=TOLERANCES["score"])


def test_the_core_install_imports_no_runtime():
    """Segmenter and sdmr-segment import neither onnx, onnxruntime nor openvino until a backend asks."""
    import subprocess
    import sys

    code = ("import sys, sdmr.model.inference, sdmr.segment, sdmr.export.cli; "
            "print([m for m in ('onnx', 'onnxruntime', 'openvino') if m in sys.modules])")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
