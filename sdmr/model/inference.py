"""The one inference path: depth metres → ``Instances``. Used by ``sdmr-segment`` and the ``sdmr`` Method.

Speed comes from settings that do not change which confident objects are found:
``torch.inference_mode``, the score threshold applied *inside* the detector (so the mask head
only runs on detections that will be kept; FINDINGS: time follows the number of detections),
and an explicit thread count.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from sdmr.data.errors import DataError
from sdmr.data.instances import Instances
from sdmr.data.transforms import depth_to_model_input
from sdmr.model.checkpoint import build_from_file

MASK_THRESHOLD = 0.5  # torchvision's soft masks are probabilities; 0.5 is its own convention


def detections_to_instances(
    output: dict[str, torch.Tensor], score_threshold: float = 0.0, mask_threshold: float = MASK_THRESHOLD
) -> Instances:
    """torchvision detections (masks N×1×H×W probabilities) → ``Instances`` with scores, best first."""
    scores = output["scores"].detach().float().cpu()
    keep = torch.nonzero(scores >= score_threshold).flatten()
    masks = output["masks"][keep, 0].detach().cpu() > mask_threshold
    return Instances(masks=masks.numpy().astype(bool), scores=scores[keep].numpy())


def quantize_linear_int8(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Dynamic int8 ``nn.Linear`` (weights int8, activations quantised on the fly), CPU only."""
    if device.type != "cpu":
        raise DataError(
            "int8_box_head runs on CPU only", fix="drop int8_box_head (or --int8-box-head) on GPU"
        )
    quantize = getattr(getattr(torch.ao, "quantization", None), "quantize_dynamic", None)
    if quantize is None:
        raise DataError(
            f"torch {torch.__version__} has no torch.ao.quantization.quantize_dynamic",
            fix="drop int8_box_head (or --int8-box-head)",
        )
    with warnings.catch_warnings():  # torch marks eager quantisation deprecated in favour of torchao
        warnings.simplefilter("ignore")
        return quantize(module, {torch.nn.Linear}, dtype=torch.qint8)


class Segmenter:
    """A trained SD Mask R-CNN, ready to segment depth images.

    Args:
        checkpoint: a ``.ckpt`` from ``python -m sdmr.train`` or an ``export_model`` file; the
            model architecture and the depth input encoding are read from it.
        score_threshold: detections below this confidence are dropped (inside the model).
        device: torch device string.
        num_threads: CPU threads for torch (``None`` leaves torch's setting).
        max_detections: overrides the checkpoint's ``box_detections_per_img`` when given.
        num_proposals: overrides the checkpoint's ``rpn_post_nms_top_n_test`` (the box head's
            cost is linear in it); ``None`` keeps the trained setting.
        channels_last: run convolutions in NHWC memory layout.
        int8_box_head: CPU only: dynamic int8 quantisation of the box head's two linear layers,
            which run on every proposal and dominate CPU time (benchmarks/inference.py: −25 %
            time, same AP on synthetic 512×384 images; outputs differ slightly, not bit-exact).
        input_scale: resize depth by this factor before the model (nearest neighbour, so no
            invented depths) and the masks back after. Anchors and features are in pixels, so
            objects should appear about as large as in training: a model trained at 256×192
            wants ~0.5 on 640×480 frames.
    """

    def __init__(
        self,
        checkpoint: str | Path,
        score_threshold: float = 0.5,
        device: str = "cpu",
        num_threads: int | None = None,
        max_detections: int | None = None,
        num_proposals: int | None = None,
        channels_last: bool = False,
        int8_box_head: bool = False,
        input_scale: float = 1.0,
    ) -> None:
        if not input_scale > 0:  # checked before the (slow) checkpoint load
            raise DataError(
                f"input_scale must be positive, got {input_scale}",
                fix="pass a factor > 0 (1.0 = the frames' own size, 0.5 = half)",
            )
        if num_threads is not None:
            torch.set_num_threads(num_threads)
        model, self.input_encoding, self.model_file = build_from_file(checkpoint)
        self.input_scale = float(input_scale)
        self.score_threshold = float(score_threshold)
        model.roi_heads.score_thresh = self.score_threshold
        if max_detections is not None:
            model.roi_heads.detections_per_img = int(max_detections)
        if num_proposals is not None:
            model.rpn._post_nms_top_n["testing"] = int(num_proposals)
        self.device = torch.device(device)
        self.model = model.eval().to(self.device)
        if int8_box_head:
            self.model.roi_heads.box_head = quantize_linear_int8(self.model.roi_heads.box_head, self.device)
        if channels_last:  # weights in NHWC make convolutions pick NHWC for the padded batch too
            self.model = self.model.to(memory_format=torch.channels_last)

    def encode(self, depth: np.ndarray) -> torch.Tensor:
        """Float32 H×W metres (0/NaN invalid) → the model's 3×H×W input, encoded as it was trained."""
        return depth_to_model_input(depth, self.input_encoding)

    def segment(self, depth: np.ndarray) -> Instances:
        """Float32 H×W metres (0/NaN invalid) → instances at the same H×W, highest score first."""
        return self.segment_encoded(self.encode(depth))

    @torch.inference_mode()
    def segment_encoded(self, image: torch.Tensor) -> Instances:
        """An input from :meth:`encode` → instances at its H×W (for callers that reuse the encoding)."""
        image = image.to(self.device)
        height, width = image.shape[-2:]
        if self.input_scale != 1.0:
            size = (max(1, round(height * self.input_scale)), max(1, round(width * self.input_scale)))
            image = F.interpolate(image[None], size=size, mode="nearest")[0]
        output = self.model([image])[0]
        if self.input_scale != 1.0:
            output = dict(output, masks=F.interpolate(output["masks"], size=(height, width), mode="bilinear"))
        return detections_to_instances(output, self.score_threshold)
