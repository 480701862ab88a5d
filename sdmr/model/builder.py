"""The one function that builds SD Mask R-CNN: torchvision ``MaskRCNN`` on a ResNet-FPN backbone.

Every argument is plain data (ints, floats, strings, lists) so the full set can be stored in a
checkpoint's hyper-parameters and the identical model rebuilt from it (see ``checkpoint.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.transform import GeneralizedRCNNTransform

from sdmr.data.errors import DataError
from sdmr.model.backbone import resnet_fpn_backbone


class PadOnlyTransform(GeneralizedRCNNTransform):
    """Normalise and zero-pad, never resize.

    torchvision rescales every image to ``min_size``/``max_size``; SD Mask R-CNN works at the
    sensor's pixel scale (object size in pixels is what the anchors were chosen for), so a
    512×384 image stays 512×384 and a 128-px test image stays 128 px. Also checks the input,
    because a wrong channel count or a NaN would otherwise surface as an obscure shape error
    or a silent NaN loss.
    """

    def __init__(self, image_mean: Sequence[float], image_std: Sequence[float], size_divisible: int = 32):
        super().__init__(
            min_size=1,
            max_size=1,
            image_mean=list(image_mean),
            image_std=list(image_std),
            size_divisible=size_divisible,
        )

    def resize(self, image: Tensor, target: dict[str, Tensor] | None = None):
        return image, target

    def forward(self, images: list[Tensor], targets: list[dict[str, Tensor]] | None = None):
        for i, image in enumerate(images):
            if image.dim() != 3 or image.shape[0] != len(self.image_mean):
                raise DataError(
                    f"model input {i} has shape {tuple(image.shape)}; expected {len(self.image_mean)}×H×W",
                    fix="encode depth with sdmr.data.transforms.depth_to_model_input (depth triplicated "
                    "to 3 channels)",
                )
            if not torch.isfinite(image).all():
                raise DataError(
                    f"model input {i} contains NaN or inf",
                    fix="fill invalid depth first (sdmr.data.input_encoding.encode_depth_for_model does)",
                )
        return super().forward(images, targets)


def build_sdmask_rcnn(
    backbone_depth: int = 35,
    norm: str = "group",
    num_classes: int = 2,
    anchor_sizes: Sequence[int] = (32, 64, 128, 256, 512),
    aspect_ratios: Sequence[float] = (0.5, 1.0, 2.0),
    image_mean: Sequence[float] = (0.5, 0.5, 0.5),
    image_std: Sequence[float] = (0.25, 0.25, 0.25),
    rpn_pre_nms_top_n_train: int = 2000,
    rpn_post_nms_top_n_train: int = 2000,
    rpn_pre_nms_top_n_test: int = 1000,
    rpn_post_nms_top_n_test: int = 2000,
    rpn_nms_thresh: float = 0.7,
    rpn_batch_size_per_image: int = 256,
    box_batch_size_per_image: int = 512,
    box_score_thresh: float = 0.05,
    box_nms_thresh: float = 0.35,
    box_detections_per_img: int = 100,
    size_divisible: int = 32,
) -> MaskRCNN:
    """SD Mask R-CNN (Danielczuk et al. 2019) as a torchvision ``MaskRCNN``.

    Args:
        backbone_depth: bottleneck ResNet depth; 35 = the paper's ``[3, 4, 1, 3]`` blocks,
            50/101/152 = the usual ones (50 with ``norm="frozen_batch"`` loads COCO weights).
        norm: backbone normalisation, ``group`` (default: trains from scratch at 2–5 images per
            GPU), ``batch`` or ``frozen_batch`` (fine-tuning pretrained weights only).
        num_classes: including background; 2 = class-agnostic "object".
        anchor_sizes: one anchor size (pixels) per FPN level P2..P6. The paper's 32–512 suit
            512×384 images; use about half (16–256) at 256×192.
        aspect_ratios: anchor height/width ratios, shared by all levels.
        image_mean, image_std: per-channel normalisation of the [0, 1] encoded depth input.
        rpn_*: region proposal settings (torchvision names). ``rpn_post_nms_top_n_test=2000`` is
            the paper's benchmark setting.
        box_batch_size_per_image: sampled RoIs per image for the box/mask heads in training
            (the public code used 200; FINDINGS: 64 is +20 % speed on CPU).
        box_score_thresh, box_nms_thresh, box_detections_per_img: detection post-processing;
            the paper used NMS 0.35 and at most 100 detections.
        size_divisible: images are zero-padded bottom/right to a multiple of this (FPN strides).

    Input/output contract is torchvision's ``MaskRCNN``: a list of float 3×H×W tensors in
    [0, 1] (+ targets in training). Images are never resized.
    """
    if len(anchor_sizes) != 5:
        raise DataError(
            f"anchor_sizes needs one size per FPN level P2..P6 (5), got {list(anchor_sizes)}",
            fix="e.g. anchor_sizes=[32, 64, 128, 256, 512] at 512×384 or [16, 32, 64, 128, 256] at 256×192",
        )
    anchors = AnchorGenerator(
        sizes=tuple((int(s),) for s in anchor_sizes),
        aspect_ratios=(tuple(float(r) for r in aspect_ratios),) * len(anchor_sizes),
    )
    model = MaskRCNN(
        resnet_fpn_backbone(backbone_depth, norm),
        num_classes=num_classes,
        rpn_anchor_generator=anchors,
        rpn_pre_nms_top_n_train=rpn_pre_nms_top_n_train,
        rpn_post_nms_top_n_train=rpn_post_nms_top_n_train,
        rpn_pre_nms_top_n_test=rpn_pre_nms_top_n_test,
        rpn_post_nms_top_n_test=rpn_post_nms_top_n_test,
        rpn_nms_thresh=rpn_nms_thresh,
        rpn_batch_size_per_image=rpn_batch_size_per_image,
        box_batch_size_per_image=box_batch_size_per_image,
        box_score_thresh=box_score_thresh,
        box_nms_thresh=box_nms_thresh,
        box_detections_per_img=box_detections_per_img,
    )
    model.transform = PadOnlyTransform(image_mean, image_std, size_divisible)
    return model
