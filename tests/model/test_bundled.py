"""The bundled model: export from a .ckpt, fp16 weights-only file, sha256 on load, Segmenter.default()."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import sdmr.weights
from sdmr.data.errors import DataError
from sdmr.model.bundled import (
    CARD_JSON_FILE,
    CARD_MD_FILE,
    MANIFEST_FILE,
    MAX_WEIGHTS_BYTES,
    WEIGHTS_DIR_ENV,
    WEIGHTS_FILE,
    bundled_model_path,
    export_bundled_model,
    render_model_card,
)
from sdmr.model.checkpoint import export_model, read_model_file
from sdmr.model.inference import Segmenter


def test_bundle_is_fp16_weights_only_with_checksum_and_card(bundle_dir, tiny_spec):
    TINY_TRAIN_FOCAL, TINY_KWARGS, TINY_CARD = tiny_spec["focal"], tiny_spec["kwargs"], tiny_spec["card"]
    weights = bundle_dir / WEIGHTS_FILE
    payload = torch.load(weights, map_location="cpu", weights_only=True)
    floats = [v for v in payload["state_dict"].values() if v.is_floating_point()]
    assert floats and all(v.dtype == torch.float16 for v in floats)
    assert payload["train_focal_px"] == TINY_TRAIN_FOCAL and payload["model_kwargs"] == TINY_KWARGS
    manifest = json.loads((bundle_dir / MANIFEST_FILE).read_text())
    assert manifest["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert manifest["bytes"] == weights.stat().st_size
    assert bundled_model_path(bundle_dir) == weights
    card = json.loads((bundle_dir / CARD_JSON_FILE).read_text())
    assert card["weights"]["sha256"] == manifest["sha256"] and card["model"]["train_focal_px"] == TINY_TRAIN_FOCAL
    assert card["source_checkpoint"] == {"file": "last.ckpt", "global_step": 0}
    markdown = (bundle_dir / CARD_MD_FILE).read_text()
    assert "| synthetic test | 0.000 | 0.000 |" in markdown and TINY_CARD["data_command"] in markdown


def test_default_segmenter_runs_in_fp32_like_its_checkpoint(
    bundle_dir, focal_checkpoint, depth_image, monkeypatch, tiny_spec
):
    monkeypatch.setenv(WEIGHTS_DIR_ENV, str(bundle_dir))
    bundled = Segmenter.default(score_threshold=0.0, surface_ratio=None, input_scale=1.0)
    assert bundled.model_file.path == bundle_dir / WEIGHTS_FILE and bundled.train_focal_px == tiny_spec["focal"]
    assert all(p.dtype == torch.float32 for p in bundled.model.parameters())
    full = Segmenter(focal_checkpoint, score_threshold=0.0, surface_ratio=None, input_scale=1.0)
    a, b = bundled.segment(depth_image), full.segment(depth_image)
    assert len(a) > 0 and abs(len(a) - len(b)) <= 1  # fp16 rounding may reorder near-equal detections
    assert abs(float(a.scores[0]) - float(b.scores[0])) < 1e-2
    assert (a.masks[0] == b.masks[0]).mean() > 0.99


def test_damaged_or_absent_bundle_names_the_file_and_the_fix(bundle_dir, tmp_path):
    copy = tmp_path / "weights"
    shutil.copytree(bundle_dir, copy)
    data = bytearray((copy / WEIGHTS_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / WEIGHTS_FILE).write_bytes(bytes(data))
    with pytest.raises(DataError, match=rf"{WEIGHTS_FILE}: bundled weights fail their checksum.*Fix: re-run"):
        Segmenter.default(weights_dir=copy)
    (copy / WEIGHTS_FILE).unlink()
    with pytest.raises(DataError, match="weights file named by manifest.json is missing"):
        bundled_model_path(copy)
    (copy / MANIFEST_FILE).unlink()
    with pytest.raises(DataError, match=r"no bundled model is installed.*Fix: .*--checkpoint PATH"):
        Segmenter.default(weights_dir=copy)


def test_export_refuses_a_checkpoint_without_focal_length_or_an_incomplete_card(
    exported_model, focal_checkpoint, tmp_path, tiny_spec
):
    TINY_CARD = tiny_spec["card"]
    with pytest.raises(DataError, match="train_focal_px.*Fix: pass --train-focal-px"):
        export_bundled_model(exported_model, TINY_CARD, tmp_path / "a")
    card = {k: v for k, v in TINY_CARD.items() if k not in ("metrics", "hardware")}
    with pytest.raises(DataError, match="card.json: model card lacks hardware, metrics"):
        export_bundled_model(focal_checkpoint, card, tmp_path / "b", card_source="card.json")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()  # refused before writing


def test_train_focal_length_comes_from_hparams_or_export_and_old_files_have_none(
    exported_model, focal_checkpoint, tmp_path, tiny_spec
):
    TINY_TRAIN_FOCAL, TINY_KWARGS = tiny_spec["focal"], tiny_spec["kwargs"]
    assert read_model_file(focal_checkpoint).train_focal_px == TINY_TRAIN_FOCAL
    assert read_model_file(exported_model).train_focal_px is None  # exported before the key existed
    state = read_model_file(focal_checkpoint).state_dict
    export_model(state, TINY_KWARGS, "median_relative", tmp_path / "m.pt", train_focal_px=274.5,
                 model_card={"name": "x"})
    loaded = read_model_file(tmp_path / "m.pt")
    assert loaded.train_focal_px == 274.5 and loaded.model_card == {"name": "x"}
    with pytest.raises(DataError, match="not a positive focal length"):
        export_model(state, TINY_KWARGS, "median_relative", tmp_path / "bad.pt", train_focal_px=-1)


def test_the_shipped_bundle_matches_its_checksum():
    """The real bundled model, once committed to sdmr/weights/: intact, weights-only, within budget."""
    folder = Path(sdmr.weights.__file__).parent
    if not (folder / MANIFEST_FILE).is_file():
        pytest.skip("no bundled model in sdmr/weights/ yet (made by scripts/export_bundled_model.py)")
    weights = bundled_model_path(folder)
    assert weights.stat().st_size <= MAX_WEIGHTS_BYTES
    payload = torch.load(weights, map_location="cpu", weights_only=True)
    assert payload["train_focal_px"] > 0 and np.isfinite(payload["train_focal_px"])
    card = json.loads((folder / CARD_JSON_FILE).read_text())
    assert card["weights"]["sha256"] == json.loads((folder / MANIFEST_FILE).read_text())["sha256"]


def test_model_card_limitations_render_as_points_whether_a_list_or_one_paragraph(tiny_spec):
    card = dict(tiny_spec["card"])
    card["limitations"] = "One paragraph, one point."
    one = render_model_card(card).split("## Limitations")[1].split("##")[0].strip().splitlines()
    card["limitations"] = ["first point", "second point"]
    two = render_model_card(card).split("## Limitations")[1].split("##")[0].strip().splitlines()
    assert one == ["- One paragraph, one point."] and two == ["- first point", "- second point"]
