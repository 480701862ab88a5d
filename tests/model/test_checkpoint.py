"""Weights files: our exports, torchvision COCO-format state_dicts, and the errors for the rest."""

from __future__ import annotations

import functools

import pytest
import torch
from torchvision.models.detection import maskrcnn_resnet50_fpn

from sdmr.data.errors import DataError
from sdmr.data.input_spec import InputSpec
from sdmr.model import build_sdmask_rcnn
from sdmr.model.checkpoint import build_from_file, load_weights, read_model_file


@pytest.fixture(scope="module")
def coco_state_file(tmp_path_factory):
    """A COCO-shaped (91 classes) torchvision state_dict, random weights, never downloaded."""
    torch.manual_seed(1)
    model = maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91)
    path = tmp_path_factory.mktemp("coco") / "maskrcnn_resnet50_fpn_coco.pth"
    torch.save(model.state_dict(), path)
    return path, model.state_dict()


def test_coco_state_dict_loads_into_resnet50_with_2_class_heads(coco_state_file):
    path, source = coco_state_file
    model = build_sdmask_rcnn(backbone_depth=50, norm="frozen_batch")
    reinit = load_weights(model, path)
    assert sorted(reinit) == sorted(
        f"roi_heads.{head}.{p}"
        for head in ("box_predictor.cls_score", "box_predictor.bbox_pred", "mask_predictor.mask_fcn_logits")
        for p in ("weight", "bias")
    )
    state = model.state_dict()
    for key in (
        "backbone.body.layer3.5.conv2.weight",
        "backbone.body.bn1.running_var",
        "rpn.head.cls_logits.weight",
        "roi_heads.box_head.fc7.weight",
        "roi_heads.mask_head.0.0.weight",
    ):
        assert torch.equal(state[key], source[key]), key
    assert state["roi_heads.box_predictor.cls_score.weight"].shape == (2, 1024)


def test_checkpoint_of_another_architecture_names_file_and_fix(coco_state_file):
    path, _ = coco_state_file
    with pytest.raises(DataError) as err:
        load_weights(build_sdmask_rcnn(), path)  # ResNet-35 + GroupNorm
    message = str(err.value)
    assert str(path) in message and "architecture" in message and "unexpected" in message
    assert "backbone_depth=50" in message


def test_missing_and_unsafe_files_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="checkpoint file not found") as err:
        read_model_file(tmp_path / "nope.ckpt")
    assert "nope.ckpt" in str(err.value)
    unsafe = tmp_path / "pickled.pt"
    torch.save({"factory": functools.partial(print, "x")}, unsafe)
    with pytest.raises(DataError, match="objects other than tensors"):
        read_model_file(unsafe)
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(DataError, match="cannot read checkpoint"):
        read_model_file(garbage)


def test_bare_state_dict_cannot_rebuild_a_model_without_settings(coco_state_file):
    with pytest.raises(DataError, match="no sdmr model settings"):
        build_from_file(coco_state_file[0])


def test_export_round_trip_rebuilds_identical_model(exported_model, depth_image):
    model, encoding, info = build_from_file(exported_model)
    again, _, _ = build_from_file(exported_model)
    assert encoding == InputSpec("depth", "median_relative") and info.model_kwargs["anchor_sizes"] == [16, 32, 64, 128, 256]
    image = torch.rand(3, 96, 128)
    with torch.no_grad():
        a, b = model.eval()([image])[0], again.eval()([image])[0]
    assert torch.equal(a["scores"], b["scores"]) and len(a["scores"]) > 0


def test_incomplete_export_and_non_dict_files_are_data_errors(tmp_path):
    partial_export = tmp_path / "partial.pt"
    torch.save({"format": "sdmr-maskrcnn", "state_dict": {}}, partial_export)
    with pytest.raises(
        DataError, match="partial.pt: exported model file lacks model_kwargs, input_spec.*Fix:"
    ):
        read_model_file(partial_export)
    tensor = tmp_path / "tensor.pt"
    torch.save(torch.zeros(2), tensor)
    with pytest.raises(DataError, match="tensor.pt: checkpoint is a Tensor.*Fix:"):
        read_model_file(tensor)
