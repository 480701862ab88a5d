"""ResNet + FPN backbones built explicitly from block counts, so ResNet-35 is a first-class depth.

torchvision's ``resnet_fpn_backbone`` only accepts its named ResNets; the paper's ResNet-35
(bottleneck blocks ``[3, 4, 1, 3]``) is not one of them, so the body is built here from
``torchvision.models.resnet.ResNet`` and wrapped in ``BackboneWithFPN`` directly.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from torch import nn
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.resnet import Bottleneck, ResNet
from torchvision.ops import FrozenBatchNorm2d
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from sdmr.errors import ConfigError

#: Bottleneck blocks per stage (layer1..layer4). 35 is the paper's backbone.
RESNET_BLOCKS: dict[int, tuple[int, int, int, int]] = {
    35: (3, 4, 1, 3),
    50: (3, 4, 6, 3),
    101: (3, 4, 23, 3),
    152: (3, 8, 36, 3),
}
NORMS = ("group", "batch", "frozen_batch")
FPN_OUT_CHANNELS = 256
_RETURN_LAYERS = {"layer1": "0", "layer2": "1", "layer3": "2", "layer4": "3"}
_STAGE_CHANNELS = [256, 512, 1024, 2048]  # Bottleneck expansion 4 × (64, 128, 256, 512)


def norm_layer(norm: str, num_groups: int = 32) -> Callable[[int], nn.Module]:
    """The per-channel normalisation factory ResNet calls as ``norm_layer(channels)``.

    ``group`` suits training from scratch with 2–5 images per GPU (batch statistics of so few
    images are noise); ``batch`` for large batches; ``frozen_batch`` only to load and fine-tune
    ImageNet/COCO weights (it has no trainable statistics, useless from scratch).
    """
    if norm == "group":
        return partial(nn.GroupNorm, num_groups)
    if norm == "batch":
        return nn.BatchNorm2d
    if norm == "frozen_batch":
        return FrozenBatchNorm2d
    raise ConfigError(f"unknown norm '{norm}'", fix=f"use one of {', '.join(NORMS)}")


def resnet_body(depth: int, norm: str = "group") -> ResNet:
    """A bottleneck ResNet of ``depth`` (35, 50, 101, 152) without avgpool/fc (stem + layer1..4)."""
    if depth not in RESNET_BLOCKS:
        raise ConfigError(
            f"unsupported ResNet depth {depth}", fix=f"use one of {', '.join(map(str, RESNET_BLOCKS))}"
        )
    body = ResNet(Bottleneck, list(RESNET_BLOCKS[depth]), norm_layer=norm_layer(norm))
    # The detector never uses the ImageNet classifier; drop it so it holds no parameters.
    del body.avgpool, body.fc
    return body


def resnet_fpn_backbone(depth: int = 35, norm: str = "group") -> BackboneWithFPN:
    """ResNet-``depth`` body + 256-channel FPN over layer1..layer4 + a max-pooled P6."""
    return BackboneWithFPN(
        resnet_body(depth, norm),
        dict(_RETURN_LAYERS),
        list(_STAGE_CHANNELS),
        FPN_OUT_CHANNELS,
        extra_blocks=LastLevelMaxPool(),
    )
