"""`CocoEvaluator`: the one evaluator protocol of training validation and sdmr-bench.

Shaped like detectron2's ``DatasetEvaluator`` / mmengine's ``BaseMetric``: ``reset()``, then
``process(inputs, outputs)`` per batch, then ``evaluate()``. Its state is one COCO record per
image (the ``images`` entry, the ground-truth annotations and the detections, masks as RLE:
a few hundred bytes an image instead of the masks), keyed by image id, so

* DDP ranks exchange it with :meth:`gather_state` (or :meth:`state` + :meth:`merge`), and the
  repeats DDP pads a split with count once;
* sdmr-bench stores the same records per image (``progress.jsonl``) and feeds them back with
  :meth:`add_records` when it scores a (possibly resumed) run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sdmr.data.errors import DataError
from sdmr.data.instances import Instances
from sdmr.evaluation.coco import (
    CocoEvaluation,
    check_protocol,
    evaluate_coco,
    image_coco_entries,
    resolve_backend,
)

#: One image's state: ``{"image": {...}, "annotations": [...], "detections": [...]}`` (COCO dicts).
CocoRecord = dict[str, Any]


class CocoEvaluator:
    """Class-agnostic COCO mask AP/AR accumulated image by image.

    Args:
        protocol: ``"standard"`` or ``"original"`` (see :mod:`sdmr.evaluation.coco`).
        backend: COCO backend (``"auto"``, ``"pycocotools"``, ``"faster"``, ``"sdmr"``), resolved now.
        max_dets: detections per image that count.
    """

    def __init__(self, protocol: str = "standard", backend: str = "auto", max_dets: int = 100) -> None:
        check_protocol(protocol)
        self.protocol = protocol
        self.backend = resolve_backend(backend)
        self.max_dets = int(max_dets)
        self._records: dict[int, CocoRecord] = {}

    def reset(self) -> None:
        """Forget every processed image (call at the start of each evaluation)."""
        self._records = {}

    def __len__(self) -> int:
        return len(self._records)

    # ------------------------------------------------------------ accumulate
    def make_record(self, sample: Mapping[str, Any], prediction: Instances) -> CocoRecord:
        """One image's record, not stored: ``sample`` holds ``image_id`` and the ground truth
        ``instances`` (for the original protocol also an optional ``bin_mask``; ``where`` names the
        image in errors). A wrong prediction (type, size) or missing ground truth is a DataError."""
        image_id = int(sample["image_id"])
        bin_mask = sample.get("bin_mask") if self.protocol == "original" else None
        where = sample.get("where") or f"image {sample.get('name', image_id)}"
        image, annotations, detections = image_coco_entries(
            image_id, sample.get("instances"), prediction, self.protocol, bin_mask, where
        )
        return {"image": image, "annotations": annotations, "detections": detections}

    def process(self, inputs: Sequence[Mapping[str, Any]], outputs: Sequence[Instances]) -> None:
        """Add one batch: ``inputs[i]`` is a sample as :meth:`make_record` takes it, ``outputs[i]``
        its prediction. An image id seen before replaces the earlier record."""
        if len(inputs) != len(outputs):
            raise DataError(f"{len(inputs)} inputs but {len(outputs)} outputs",
                            fix="pass one prediction per image, in the order of the inputs")
        self.add_records(self.make_record(sample, pred) for sample, pred in zip(inputs, outputs, strict=True))

    def add_records(self, records: Iterable[CocoRecord]) -> None:
        """Add records made earlier by :meth:`process` (stored on disk, or from other ranks)."""
        for record in records:
            self._records[int(record["image"]["id"])] = record

    # ------------------------------------------------------------ distributed
    def state(self) -> list[CocoRecord]:
        """This evaluator's records, in image-id order (plain data: picklable and JSON-ready)."""
        return [self._records[k] for k in sorted(self._records)]

    def merge(self, states: Iterable[Sequence[CocoRecord]]) -> None:
        """Add other evaluators' :meth:`state`; an image in several counts once."""
        for state in states:
            self.add_records(state)

    def gather_state(self) -> None:
        """Merge every DDP rank's records into every rank (a no-op without ``torch.distributed``)."""
        import sys

        torch = sys.modules.get("torch")  # a process that never imported torch cannot be distributed
        dist = getattr(torch, "distributed", None) if torch is not None else None
        if dist is None or not dist.is_available() or not dist.is_initialized():
            return
        shards: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(shards, self.state())
        self.merge(shards)

    # ------------------------------------------------------------ results
    def evaluation(self) -> CocoEvaluation:
        """The summary numbers and the precision/recall arrays behind them (for PR curves)."""
        records = self.state()
        return evaluate_coco(
            [r["image"] for r in records],
            [a for r in records for a in r["annotations"]],
            [d for r in records for d in r["detections"]],
            backend=self.backend,
            max_dets=self.max_dets,
        )

    def evaluate(self) -> dict[str, float]:
        """``AP`` (IoU .50:.95), ``AP50``, ``AP75`` and ``AR`` over the processed images (-1: undefined)."""
        return {key: float(value) for key, value in self.evaluation().metrics.items()}

