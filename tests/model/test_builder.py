"""The detector as built: ResNet-35 layout, no resizing, trainable, input checks."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.models import resnet50
from torchvision.models.resnet import Bottleneck

from sdmr.data.errors import DataError
from sdmr.model import build_sdmask_rcnn
from sdmr.model.backbone import resnet_body


def _params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_resnet35_has_3_4_1_3_bottlenecks_and_resnet50_params_minus_five_layer3_blocks():
    model = build_sdmask_rcnn(norm="batch")
    body = model.backbone.body
    counts = [len(getattr(body, f"layer{i}")) for i in range(1, 5)]
    assert counts == [3, 4, 1, 3]
    assert all(isinstance(b, Bottleneck) for i in range(1, 5) for b in getattr(body, f"layer{i}"))
    assert not hasattr(body, "fc") and not hasattr(body, "avgpool")
    # ResNet-50 body (no fc) minus 5 of layer3's 6 blocks (the 5 non-downsampling ones are identical).
    reference = resnet50()
    expected = _params(reference) - _params(reference.fc) - 5 * _params(reference.layer3[1])
    assert _params(body) == expected
    assert model.backbone.fpn.inner_blocks[-1][0].in_channels == 2048


def test_group_norm_by_default_and_depth_by_argument():
    model = build_sdmask_rcnn()
    norms = [m for m in model.backbone.body.modules() if isinstance(m, nn.GroupNorm)]
    assert norms and all(m.weight.requires_grad for m in norms)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.backbone.body.modules())
    assert [len(getattr(resnet_body(50), f"layer{i}")) for i in range(1, 5)] == [3, 4, 6, 3]
    with pytest.raises(DataError, match="unsupported ResNet depth"):
        build_sdmask_rcnn(backbone_depth=34)
    with pytest.raises(DataError, match="unknown norm"):
        build_sdmask_rcnn(norm="layer")


def test_paper_inference_defaults_and_anchor_argument():
    model = build_sdmask_rcnn(anchor_sizes=(16, 32, 64, 128, 256))
    assert model.rpn._post_nms_top_n["testing"] == 2000
    assert model.roi_heads.nms_thresh == pytest.approx(0.35)
    assert model.roi_heads.detections_per_img == 100
    assert model.roi_heads.box_predictor.cls_score.out_features == 2
    assert [s[0] for s in model.rpn.anchor_generator.sizes] == [16, 32, 64, 128, 256]
    with pytest.raises(DataError, match="one size per FPN level"):
        build_sdmask_rcnn(anchor_sizes=(32, 64))


@pytest.mark.parametrize("height,width", [(384, 512), (96, 128), (100, 130)])
def test_images_are_padded_never_resized(height, width):
    model = build_sdmask_rcnn().eval()
    images, _ = model.transform([torch.rand(3, height, width)])
    assert images.image_sizes == [(height, width)]
    assert (
        images.tensors.shape[-2] == -(-height // 32) * 32 and images.tensors.shape[-1] == -(-width // 32) * 32
    )


def test_eval_output_masks_have_input_size():
    torch.manual_seed(0)
    model = build_sdmask_rcnn(box_score_thresh=0.0, box_detections_per_img=5).eval()
    with torch.no_grad():
        out = model([torch.rand(3, 96, 128)])[0]
    assert out["masks"].shape[1:] == (1, 96, 128)
    assert len(out["scores"]) <= 5


def _target(n: int, size: int) -> dict[str, torch.Tensor]:
    masks = torch.zeros(n, size, size, dtype=torch.uint8)
    boxes = []
    for k in range(n):
        x0, y0 = 8 + 36 * k, 20 + 10 * k
        masks[k, y0 : y0 + 30, x0 : x0 + 28] = 1
        boxes.append([x0, y0, x0 + 28, y0 + 30])
    return {
        "boxes": torch.tensor(boxes, dtype=torch.float32),
        "labels": torch.ones(n, dtype=torch.int64),
        "masks": masks,
    }


def test_forward_backward_on_128px_images_updates_every_stage():
    torch.manual_seed(0)
    model = build_sdmask_rcnn(anchor_sizes=(16, 32, 64, 128, 256), box_batch_size_per_image=32).train()
    losses = model([torch.rand(3, 128, 128), torch.rand(3, 128, 128)], [_target(3, 128), _target(2, 128)])
    assert set(losses) == {
        "loss_classifier",
        "loss_box_reg",
        "loss_mask",
        "loss_objectness",
        "loss_rpn_box_reg",
    }
    loss = sum(losses.values())
    assert torch.isfinite(loss)
    loss.backward()
    for name in (
        "backbone.body.conv1.weight",
        "backbone.body.layer3.0.conv2.weight",
        "rpn.head.conv.0.0.weight",
        "roi_heads.mask_predictor.mask_fcn_logits.weight",
    ):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_bad_inputs_are_data_errors():
    model = build_sdmask_rcnn().eval()
    with pytest.raises(DataError, match="expected 3×H×W"):
        model([torch.rand(1, 64, 64)])
    bad = torch.rand(3, 64, 64)
    bad[0, 3, 3] = float("nan")
    with pytest.raises(DataError, match="NaN or inf"):
        model([bad])
