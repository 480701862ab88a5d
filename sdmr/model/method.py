"""``sdmr`` as a benchmark Method: a thin adapter over :class:`sdmr.model.inference.Segmenter`."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from sdmr.bench.method import BaseMethod
from sdmr.data.instances import Instances
from sdmr.data.sample import Sample
from sdmr.model.inference import (
    DEFAULT_CONTAINED_FRACTION,
    DEFAULT_SURFACE_RATIO,
    DEFAULT_TRIM_BELOW_HEIGHT,
    Segmenter,
)


@dataclass
class SDMaskRCNNParams:
    """``checkpoint`` empty = the bundled model (``Segmenter.default()``); the rest are `Segmenter`'s settings.

    The fields mirror `Segmenter`'s keyword arguments one to one and are passed through as such.
    ``input_scale`` is ``auto`` (from each sample's intrinsics and the model's training focal
    length) or a number. ``min_height_above_plane`` (metres, e.g. 0.015) switches on the
    geometric verification stage, which drops masks lying flat on the support plane, and
    ``trim_below_height`` (default 0.005 m; 0 = off) cuts the table pixels off every mask;
    ``surface_ratio`` (e.g. 1.5; 0 = off) drops flat patches of walls and bare tables;
    ``contained_fraction`` (e.g. 0.8; 0 = off) drops a mask lying inside a higher-scoring one.
    ``backend`` is ``torch``, ``onnxruntime`` or ``openvino`` (docs/deployment.md).
    """

    checkpoint: str = ""
    score_threshold: float = 0.5
    device: str = "cpu"
    num_threads: int | None = None
    max_detections: int | None = None
    num_proposals: int | None = None
    int8_box_head: bool = False
    channels_last: bool = False
    input_scale: Literal["auto"] | float = "auto"
    min_height_above_plane: float | None = None
    trim_below_height: float | None = DEFAULT_TRIM_BELOW_HEIGHT
    surface_ratio: float | None = DEFAULT_SURFACE_RATIO
    contained_fraction: float | None = DEFAULT_CONTAINED_FRACTION
    backend: str = "torch"


class SDMaskRCNNMethod(BaseMethod):
    name = "sdmr"
    summary = "SD Mask R-CNN (ours): Mask R-CNN on a ResNet-35 FPN, trained on synthetic depth only"
    Params = SDMaskRCNNParams

    def __init__(self, params: SDMaskRCNNParams | None = None, **overrides) -> None:
        super().__init__(params, **overrides)
        self._segmenter: Segmenter | None = None

    @property
    def segmenter(self) -> Segmenter:
        """Loaded on first use, so listing or configuring the method costs nothing."""
        if self._segmenter is None:
            settings = asdict(self.params)
            checkpoint = settings.pop("checkpoint")
            self._segmenter = Segmenter(checkpoint, **settings) if checkpoint else Segmenter.default(**settings)
        return self._segmenter

    def predict(self, sample: Sample) -> Instances:
        return self.segmenter.segment(sample["depth"], sample.get("intrinsics"), sample.get("color"))
