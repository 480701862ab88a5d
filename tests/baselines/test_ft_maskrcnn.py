"""The fine-tuned COCO Mask R-CNN baselines (Table I rows 3–4): real sdmr-generate data with colour,
real torchvision-format ResNet-50 checkpoints made here (never downloaded), two training steps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sdmr_baselines.ft_maskrcnn import FineTunedColorMaskRCNN, FineTunedDepthMaskRCNN
from torchvision.models.detection import maskrcnn_resnet50_fpn

from sdmr.bench.method import FitConfig
from sdmr.data.errors import DataError
from sdmr.data.wisdom import WisdomDataset
from sdmr.errors import ConfigError
from sdmr.model.checkpoint import read_model_file

BIN = Path(sys.executable).parent
GENERATE_CONFIG = """views_per_heap: 2
test_fraction: 0.34
scene: {max_objects: 3}
objects: {source: procedural, num_procedural: 8}
render: {min_visible_pixels: 1}
"""
# a BatchNorm buffer of the stem: frozen while fine-tuning, so it shows which file the weights came from
FROZEN_KEY = "backbone.body.bn1.running_mean"


def _run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / args[0]), *args[1:]], check=False, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})


@pytest.fixture(scope="module")
def colour_dataset(tmp_path_factory) -> Path:
    """Six 64×96 images with colour (4 train, 2 test) from the real generator's command line."""
    folder = tmp_path_factory.mktemp("ft")
    (folder / "gen.yaml").write_text(GENERATE_CONFIG)
    out = folder / "data"
    proc = _run("sdmr-generate", "--output", str(out), "--config", str(folder / "gen.yaml"), "--num-images", "6",
                "--height", "64", "--width", "96", "--color", "--no-progress")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "color_ims").is_dir() and len(WisdomDataset(out, "test")) == 2
    return out


@pytest.fixture(scope="module")
def coco_file(tmp_path_factory) -> tuple[Path, dict[str, torch.Tensor]]:
    """A torchvision-format maskrcnn_resnet50_fpn state_dict with 91-class heads, random weights."""
    torch.manual_seed(0)
    state = maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91).state_dict()
    state[FROZEN_KEY] = torch.randn_like(state[FROZEN_KEY])  # not BatchNorm's default: recognisable
    path = tmp_path_factory.mktemp("coco") / "maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth"
    torch.save(state, path)
    return path, state


@pytest.mark.slow
def test_depth_fit_starts_from_the_coco_file_with_2_class_heads_and_predicts(colour_dataset, coco_file, tmp_path):
    path, coco = coco_file
    method = FineTunedDepthMaskRCNN(weights=str(path), max_steps=2)
    train = WisdomDataset(colour_dataset, "train")
    method.fit(train, FitConfig(output_dir=tmp_path))
    exported = tmp_path / "ft_maskrcnn_depth.pt"
    model_file = read_model_file(exported)
    assert torch.equal(model_file.state_dict[FROZEN_KEY], coco[FROZEN_KEY])  # loaded, and frozen
    assert model_file.state_dict["roi_heads.box_predictor.cls_score.weight"].shape[0] == 2  # 91 → 2 classes
    assert model_file.state_dict["roi_heads.mask_predictor.mask_fcn_logits.weight"].shape[0] == 2
    assert model_file.input_spec.modality == "depth" and model_file.input_spec.encoding == "wisdom_fixed"
    assert model_file.model_card["pretrained"] is True and model_file.model_card["fine_tuned"]["steps"] == 2
    assert not (tmp_path / "train" / "checkpoints").exists()  # the optimiser state is not kept
    sample = WisdomDataset(colour_dataset, "test")[0]
    pred = method.predict({k: v for k, v in sample.items() if k != "instances"})
    assert pred.masks.shape[1:] == sample["depth"].shape and pred.masks.dtype == bool
    assert method.result_notes()["pretrained"] is True
    # a resumed run reuses the export instead of training again
    again = FineTunedDepthMaskRCNN(weights=str(path), max_steps=2)
    before = exported.stat().st_mtime_ns
    again.fit(train, FitConfig(output_dir=tmp_path))
    assert again.weights_path == exported and exported.stat().st_mtime_ns == before


@pytest.mark.slow
def test_sdmr_bench_fine_tunes_both_rows_from_scratch_and_marks_them_not_pretrained(colour_dataset, tmp_path):
    out = tmp_path / "run"
    proc = _run("sdmr-bench", "--methods", "ft_maskrcnn_depth,ft_maskrcnn_color", "--fit-split", "train",
                "--param", "ft_maskrcnn_depth.weights=none", "--param", "ft_maskrcnn_color.weights=none",
                "--param", "max_steps=2", "--dataset", str(colour_dataset), "--output", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())["methods"]
    for name in ("ft_maskrcnn_depth", "ft_maskrcnn_color"):
        assert results[name]["pretrained"] is False and results[name]["num_failed"] == 0
        assert results[name]["num_images"] == 2
        assert (out / "methods" / name / f"{name}.pt").is_file()
    table = (out / "table.md").read_text()
    assert "ft_maskrcnn_depth (not pretrained)" in table and "ft_maskrcnn_color (not pretrained)" in table
    assert read_model_file(out / "methods" / "ft_maskrcnn_color" / "ft_maskrcnn_color.pt").input_spec.needs_color


def test_without_weights_both_refuse_before_any_work_saying_where_coco_weights_come_from(
    colour_dataset, tmp_path, monkeypatch
):
    out = tmp_path / "run"
    proc = _run("sdmr-bench", "--methods", "ft_maskrcnn_depth,ft_maskrcnn_color", "--fit-split", "train",
                "--dataset", str(colour_dataset), "--output", str(out), env={"TORCH_HOME": str(tmp_path / "hub")})
    assert proc.returncode == 2
    assert "downloads nothing" in proc.stderr and "maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth" in proc.stderr
    assert "ft_maskrcnn_depth.weights=none" in proc.stderr and not out.exists()
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))  # an empty hub cache
    with pytest.raises(ConfigError, match="ft_maskrcnn_color.weights=/path/to/"):
        FineTunedColorMaskRCNN().check_ready(WisdomDataset(colour_dataset, "train", load_color=True)[0], fitting=True)
    cached = tmp_path / "hub" / "hub" / "checkpoints" / "maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"")  # where torchvision's own download would have put it
    assert FineTunedColorMaskRCNN().init_weights() == cached


def test_colour_method_on_a_depth_only_dataset_and_other_misuse_are_clear_errors(colour_dataset, tmp_path):
    depth_only = WisdomDataset(colour_dataset, "train")[0]  # colour not loaded
    with pytest.raises(DataError, match="reads colour images, but the dataset has none"):
        FineTunedColorMaskRCNN(weights="none").check_ready(depth_only, fitting=True)
    with pytest.raises(ConfigError, match="--fit-split train to fine-tune first"):
        FineTunedDepthMaskRCNN().check_ready(depth_only, fitting=False)
    with pytest.raises(DataError, match="COCO weights file not found"):
        FineTunedDepthMaskRCNN(weights=str(tmp_path / "missing.pth")).check_ready(depth_only, fitting=True)
    with pytest.raises(ConfigError, match="epochs=0 cannot work"):
        FineTunedDepthMaskRCNN(epochs=0)
    with pytest.raises(ConfigError, match="is colour"):
        FineTunedDepthMaskRCNN(depth_encoding="color")
    with pytest.raises(DataError, match="unknown input encoding"):
        FineTunedDepthMaskRCNN(depth_encoding="minmax")
    proc = _run("sdmr-bench", "--methods", "ft_maskrcnn_color", "--fit-split", "train", "--param", "weights=none",
                "--dataset", str(tmp_path / "no_colour"), "--output", str(tmp_path / "run"))
    assert proc.returncode == 2 and "not found" in proc.stderr


def test_a_depth_only_dataset_folder_is_refused_for_the_colour_row_before_the_run_folder(tmp_path):
    from sdmr.data.toy import make_toy_dataset

    root = make_toy_dataset(tmp_path / "toy", num_images=4)
    for png in (root / "color_ims").iterdir():
        png.unlink()
    (root / "color_ims").rmdir()
    proc = _run("sdmr-bench", "--methods", "ft_maskrcnn_color", "--fit-split", "train", "--param", "weights=none",
                "--dataset", str(root), "--output", str(tmp_path / "run"))
    assert proc.returncode == 2
    assert "lacks the colour images ft_maskrcnn_color reads" in proc.stderr and "sdmr-generate --color" in proc.stderr
    assert not (tmp_path / "run").exists()
    assert np.load(root / "train_indices.npy").size  # the dataset itself is untouched
