"""COCO mask AP/AR (class-agnostic) over `Instances` or stored COCO records.

The one COCO core of sdmr-bench and training validation (:class:`sdmr.evaluation.CocoEvaluator`
wraps it; :mod:`sdmr.bench.metrics` re-exports it next to the merged-pairs count).

Why pycocotools rather than our own matcher: every paper number (Table I, WISDOM-Real) came
out of ``COCOeval`` with ``useCats = False``, so we feed it exactly and read the same arrays
``summarize()`` reads. ``backend="faster"`` runs the C++ port (faster-coco-eval) on the same
input, and ``backend="sdmr"`` our numpy re-implementation of the same matching
(``coco_native``, no RLE encoding needed); the tests check all three give identical numbers.

``protocol="original"`` reproduces ``sd_maskrcnn/coco_benchmark.py``: every score is set to 1.0
(the stable sort then ranks predictions in the order the method returned them), masks are
zero-padded to 512×512, and, when bin masks are given, predictions lying more than half on
the bin are dropped.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pycocotools import mask as mask_utils

from sdmr.data.coco import mask_annotations
from sdmr.data.errors import DataError
from sdmr.data.instances import Instances
from sdmr.errors import ConfigError
from sdmr.evaluation.coco_native import IOU_THRESHOLDS, RECALL_THRESHOLDS, accumulate, match_image
from sdmr.evaluation.overlap import pairwise_mask_iou

PROTOCOLS = ("standard", "original")
BACKENDS = ("auto", "pycocotools", "faster", "sdmr")
ORIGINAL_PAD_SIZE = 512
BIN_OVERLAP_LIMIT = 0.5
COCO_METRIC_KEYS = ("AP", "AP50", "AP75", "AR")

__all__ = [
    "BACKENDS",
    "COCO_METRIC_KEYS",
    "PROTOCOLS",
    "CocoEvaluation",
    "check_prediction",
    "check_protocol",
    "coco_detections",
    "coco_segm_evaluation",
    "coco_segm_metrics",
    "evaluate_coco",
    "image_coco_entries",
    "resolve_backend",
]


@dataclass
class CocoEvaluation:
    """Summary numbers plus the arrays behind them (for precision–recall plots).

    ``precision`` is COCOeval's ``eval["precision"]`` at area "all", 100 detections:
    shape ``(10 IoU thresholds, 101 recall points)``, ``-1`` where undefined (no ground truth).
    """

    metrics: dict[str, float]
    precision: np.ndarray
    recall: np.ndarray
    iou_thresholds: np.ndarray
    recall_thresholds: np.ndarray
    backend: str


def _pad_to(masks: np.ndarray, size: int) -> np.ndarray:
    """Zero-pad bottom/right to at least ``size``×``size`` (the original evaluated padded images)."""
    _, h, w = masks.shape
    return np.pad(masks, ((0, 0), (0, max(0, size - h)), (0, max(0, size - w))))


def _bin_filter(pred: Instances, bin_mask: np.ndarray | None, where: str) -> Instances:
    """Drop predictions with more than half of their pixels on the bin (original protocol)."""
    if bin_mask is None or len(pred) == 0:
        return pred
    bin_mask = np.asarray(bin_mask, dtype=bool)
    if bin_mask.shape != pred.image_size:
        raise DataError(
            f"{where}: bin mask is {bin_mask.shape} but the masks are {pred.image_size}",
            fix="pass one bin mask per image with the depth image's size (or None)",
        )
    flat = pred.masks.reshape(len(pred), -1)
    on_bin = np.count_nonzero(flat[:, bin_mask.reshape(-1)], axis=1)
    areas = np.maximum(np.count_nonzero(flat, axis=1), 1)
    return pred.select(np.flatnonzero(on_bin / areas <= BIN_OVERLAP_LIMIT))


def _scores(pred: Instances, protocol: str) -> np.ndarray:
    """Scores as COCOeval sees them: 1.0 for all (in order) unless the method gave real ones."""
    if protocol == "original" or pred.scores is None:
        return np.ones(len(pred), dtype=np.float64)
    return pred.scores.astype(np.float64)


def coco_detections(
    predictions: Sequence[Instances], image_ids: Sequence[int] | None = None, protocol: str = "standard"
) -> list[dict]:
    """COCO results-format records (RLE segmentation, bbox, area, score) for each prediction."""
    image_ids = list(range(1, len(predictions) + 1)) if image_ids is None else list(image_ids)
    records: list[dict] = []
    for image_id, pred in zip(image_ids, predictions, strict=True):
        masks = _pad_to(pred.masks, ORIGINAL_PAD_SIZE) if protocol == "original" else pred.masks
        records.extend(mask_annotations(masks, int(image_id), _scores(pred, protocol)))
    return records


def check_prediction(pred: object, gt_size: tuple[int, int], where: str) -> Instances:
    """A method's output must be `Instances` at the image's size; say so when it is not."""
    if not isinstance(pred, Instances):
        raise DataError(
            f"{where}: prediction is a {type(pred).__name__}, not an Instances",
            fix="return sdmr.data.Instances(masks=bool N×H×W array) from predict()",
        )
    if pred.image_size != tuple(gt_size):
        raise DataError(
            f"{where}: predicted masks are {pred.image_size[0]}×{pred.image_size[1]} but the "
            f"ground truth is {gt_size[0]}×{gt_size[1]}",
            fix="predict masks at the input depth image's size (resize them back before returning)",
        )
    return pred


def check_protocol(protocol: str) -> None:
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {protocol!r}", fix=f"choose one of {', '.join(PROTOCOLS)}")


def _checked_pair(
    gt: Instances | None, pred: object, protocol: str, bin_mask: np.ndarray | None, where: str
) -> tuple[Instances, Instances]:
    """Validate one image's pair and apply the bin filter (the original protocol's)."""
    check_protocol(protocol)
    if gt is None:
        raise DataError(
            f"{where} has no ground-truth instances, so it cannot be scored",
            fix="evaluate a labelled split (modal_segmasks/ or label/ present)",
        )
    pred = check_prediction(pred, gt.image_size, where)
    if bin_mask is not None:
        pred = _bin_filter(pred, bin_mask, where)
    return gt, pred


def image_coco_entries(
    image_id: int,
    gt: Instances | None,
    pred: Instances,
    protocol: str = "standard",
    bin_mask: np.ndarray | None = None,
    where: str | None = None,
) -> tuple[dict, list[dict], list[dict]]:
    """One image's COCO ``images`` entry, ground-truth annotations and detections (ids unset).

    Split out so the harness can store them per image (as RLE, a few hundred bytes) and
    evaluate the whole set at the end without keeping any mask in memory.
    """
    gt, pred = _checked_pair(gt, pred, protocol, bin_mask, where or f"image {image_id}")
    gt_masks = _pad_to(gt.masks, ORIGINAL_PAD_SIZE) if protocol == "original" else gt.masks
    image = {"id": int(image_id), "height": int(gt_masks.shape[1]), "width": int(gt_masks.shape[2])}
    annotations = mask_annotations(gt_masks, int(image_id))
    return image, annotations, coco_detections([pred], [image_id], protocol)


def _check_lengths(ground_truth: Sequence, predictions: Sequence, bin_masks: Sequence | None) -> None:
    if len(ground_truth) != len(predictions):
        raise DataError(
            f"{len(ground_truth)} ground-truth images but {len(predictions)} predictions",
            fix="pass one Instances per image to both sequences, in the same order",
        )
    if bin_masks is not None and len(bin_masks) != len(ground_truth):
        raise DataError(f"{len(bin_masks)} bin masks for {len(ground_truth)} images",
                        fix="pass one bin mask (or None) per image, in the same order")


def _coco_inputs(
    ground_truth: Sequence[Instances],
    predictions: Sequence[Instances],
    protocol: str,
    bin_masks: Sequence[np.ndarray | None] | None,
) -> tuple[list[dict], list[dict], list[dict]]:
    _check_lengths(ground_truth, predictions, bin_masks)
    images, annotations, detections = [], [], []
    for index, (gt, pred) in enumerate(zip(ground_truth, predictions, strict=True)):
        bin_mask = None if bin_masks is None else bin_masks[index]
        image, anns, dets = image_coco_entries(index + 1, gt, pred, protocol, bin_mask, f"image {index}")
        images.append(image)
        annotations.extend(anns)
        detections.extend(dets)
    return images, annotations, detections


def resolve_backend(backend: str) -> str:
    """The backend ``backend`` runs on: "auto" is faster-coco-eval when installed, else pycocotools."""
    if backend not in BACKENDS:
        raise ConfigError(f"unknown COCO backend {backend!r}", fix=f"choose one of {', '.join(BACKENDS)}")
    if backend in ("pycocotools", "sdmr"):
        return backend
    try:
        import faster_coco_eval  # noqa: F401
    except ImportError:
        if backend == "faster":
            raise ImportError(
                "backend='faster' needs faster-coco-eval: pip install 'sdmr[fast-eval]'"
            ) from None
        return "pycocotools"
    return "faster"


def _run_cocoeval(dataset: dict, detections: list[dict], backend: str, max_dets: int):
    """Evaluate with one area range ("all") and one detection limit, as the original did."""
    if backend == "faster":
        from faster_coco_eval import COCO
        from faster_coco_eval import COCOeval_faster as Evaluator
    else:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval as Evaluator
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = dataset
        gt.createIndex()
        dt = COCO()
        dt.dataset = {"images": dataset["images"], "annotations": detections,
                      "categories": dataset["categories"]}
        dt.createIndex()
        evaluator = Evaluator(gt, dt, iouType="segm")
        evaluator.params.useCats = 0
        evaluator.params.areaRng = [[0.0, 1e10]]
        evaluator.params.areaRngLbl = ["all"]
        evaluator.params.maxDets = [max_dets]
        evaluator.evaluate()
        evaluator.accumulate()
    return evaluator


def _mean_defined(values: np.ndarray) -> float:
    """Mean over entries that are not -1, like ``COCOeval.summarize``; -1 when none is."""
    defined = values[values > -1]
    return float(defined.mean()) if defined.size else -1.0


def evaluate_coco(
    images: list[dict],
    annotations: list[dict],
    detections: list[dict],
    *,
    backend: str = "auto",
    max_dets: int = 100,
) -> CocoEvaluation:
    """Class-agnostic segm evaluation of COCO records (as made by :func:`image_coco_entries`)."""
    backend = resolve_backend(backend)
    if backend == "sdmr":
        return _native_from_records(images, annotations, detections, max_dets)
    # fresh ids from 1: COCOeval uses id 0 for "unmatched"
    annotations = [{**ann, "id": k} for k, ann in enumerate(annotations, start=1)]
    detections = [{**det, "id": k} for k, det in enumerate(detections, start=1)]
    dataset = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "object"}]}
    evaluator = _run_cocoeval(dataset, detections, backend, max_dets)
    return _summary(
        np.asarray(evaluator.eval["precision"])[:, :, 0, 0, -1],
        np.asarray(evaluator.eval["recall"])[:, 0, 0, -1],
        np.asarray(evaluator.params.iouThrs),
        np.asarray(evaluator.params.recThrs),
        backend,
    )


def _summary(
    precision: np.ndarray, recall: np.ndarray, iou_thresholds: np.ndarray, recall_thresholds: np.ndarray,
    backend: str,
) -> CocoEvaluation:
    """The numbers ``COCOeval.summarize`` prints, from its precision/recall arrays."""
    metrics = {
        "AP": _mean_defined(precision),
        "AP50": _mean_defined(precision[np.isclose(iou_thresholds, 0.5)]),
        "AP75": _mean_defined(precision[np.isclose(iou_thresholds, 0.75)]),
        "AR": _mean_defined(recall),
    }
    return CocoEvaluation(metrics, precision, recall, iou_thresholds, recall_thresholds, backend)


def _native_from_records(
    images: list[dict], annotations: list[dict], detections: list[dict], max_dets: int
) -> CocoEvaluation:
    """Native matching of stored RLE records: IoUs from pycocotools' RLE arithmetic."""
    gts: dict[int, list[dict]] = {}
    dts: dict[int, list[dict]] = {}
    for ann in annotations:
        gts.setdefault(ann["image_id"], []).append(ann["segmentation"])
    for det in detections:
        dts.setdefault(det["image_id"], []).append(det)
    matches = []
    for image in sorted(images, key=lambda im: im["id"]):  # COCOeval sorts image ids
        gt, dt = gts.get(image["id"], []), dts.get(image["id"], [])
        if not gt and not dt:
            continue
        ious = mask_utils.iou([d["segmentation"] for d in dt], gt, [0] * len(gt)) if gt and dt else None
        ious = np.zeros((len(dt), len(gt))) if ious is None or len(ious) == 0 else np.asarray(ious)
        matches.append(match_image(ious, [d["score"] for d in dt], len(gt), max_dets))
    precision, recall = accumulate(matches)
    return _summary(precision, recall, IOU_THRESHOLDS, RECALL_THRESHOLDS, "sdmr")


def _native_from_instances(
    ground_truth: Sequence[Instances | None],
    predictions: Sequence[Instances],
    protocol: str,
    bin_masks: Sequence[np.ndarray | None] | None,
    max_dets: int,
) -> CocoEvaluation:
    """Native matching straight from masks: no RLE encoding at all (padding cannot change an IoU)."""
    _check_lengths(ground_truth, predictions, bin_masks)
    matches = []
    for index, (gt, pred) in enumerate(zip(ground_truth, predictions, strict=True)):
        bin_mask = None if bin_masks is None else bin_masks[index]
        gt, pred = _checked_pair(gt, pred, protocol, bin_mask, f"image {index}")
        if len(gt) == 0 and len(pred) == 0:
            continue
        ious = pairwise_mask_iou(pred.masks, gt.masks)
        matches.append(match_image(ious, _scores(pred, protocol), len(gt), max_dets))
    precision, recall = accumulate(matches)
    return _summary(precision, recall, IOU_THRESHOLDS, RECALL_THRESHOLDS, "sdmr")


def coco_segm_evaluation(
    ground_truth: Sequence[Instances],
    predictions: Sequence[Instances],
    *,
    protocol: str = "standard",
    backend: str = "auto",
    bin_masks: Sequence[np.ndarray | None] | None = None,
    max_dets: int = 100,
) -> CocoEvaluation:
    """Class-agnostic COCO segm evaluation; see :func:`coco_segm_metrics` for the numbers."""
    if resolve_backend(backend) == "sdmr":
        return _native_from_instances(ground_truth, predictions, protocol, bin_masks, max_dets)
    images, annotations, detections = _coco_inputs(ground_truth, predictions, protocol, bin_masks)
    return evaluate_coco(images, annotations, detections, backend=backend, max_dets=max_dets)


def coco_segm_metrics(
    ground_truth: Sequence[Instances],
    predictions: Sequence[Instances],
    *,
    protocol: str = "standard",
    backend: str = "auto",
    bin_masks: Sequence[np.ndarray | None] | None = None,
    max_dets: int = 100,
) -> dict[str, float]:
    """COCO mask ``AP`` (IoU .50:.95), ``AP50``, ``AP75`` and ``AR`` (at ``max_dets``), class-agnostic.

    One ``Instances`` per image in both sequences. Predictions without scores are ranked in
    the order given (score 1.0, stable sort), as the original benchmark did. Images without
    ground-truth objects count their predictions as false positives. When no image has any
    ground truth the numbers are undefined and reported as -1 (pycocotools' convention).
    """
    return coco_segm_evaluation(
        ground_truth, predictions, protocol=protocol, backend=backend, bin_masks=bin_masks, max_dets=max_dets
    ).metrics
