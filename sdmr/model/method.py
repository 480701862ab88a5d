"""``sdmr`` as a benchmark Method: a thin adapter over :class:`sdmr.model.inference.Segmenter`."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sdmr.bench.method import BaseMethod
from sdmr.data.errors import DataError
from sdmr.data.instances import Instances
from sdmr.data.sample import Sample
from sdmr.model.inference import Segmenter


@dataclass
class SDMaskRCNNParams:
    """``checkpoint`` is required (a trained model); the rest are `Segmenter`'s inference settings.

    The fields mirror `Segmenter`'s keyword arguments one to one and are passed through as such.
    """

    checkpoint: str = ""
    score_threshold: float = 0.5
    device: str = "cpu"
    num_threads: int | None = None
    max_detections: int | None = None
    num_proposals: int | None = None
    int8_box_head: bool = False
    channels_last: bool = False
    input_scale: float = 1.0


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
            p = self.params
            if not p.checkpoint:
                raise DataError(
                    "the sdmr method needs a trained model",
                    fix="pass checkpoint=PATH (a .ckpt from python -m sdmr.train), e.g. "
                    "sdmr-bench --method sdmr --param checkpoint=runs/x/checkpoints/last.ckpt",
                )
            self._segmenter = Segmenter(**asdict(p))
        return self._segmenter

    def predict(self, sample: Sample) -> Instances:
        return self.segmenter.segment(sample["depth"])
