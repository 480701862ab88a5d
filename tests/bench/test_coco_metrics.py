"""Known-answer and reference-agreement tests for the COCO mask metrics."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from sdmr.bench.metrics import (
    coco_detections,
    coco_segm_evaluation,
    coco_segm_metrics,
    evaluate_coco,
    image_coco_entries,
)
from sdmr.bench.overlap import pairwise_mask_iou
from sdmr.data import DataError, Instances
from sdmr.data.coco import encode_masks_with_geometry


def squares(size: int, boxes: list[tuple[int, int, int, int]]) -> Instances:
    masks = np.zeros((len(boxes), size, size), dtype=bool)
    for k, (y0, x0, y1, x1) in enumerate(boxes):
        masks[k, y0:y1, x0:x1] = True
    return Instances(masks)


TWO = squares(64, [(4, 4, 24, 24), (30, 30, 60, 50)])


BACKENDS = ["pycocotools", "faster", "sdmr"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_perfect_prediction_scores_one(backend: str) -> None:
    assert coco_segm_metrics([TWO], [TWO], backend=backend) == {"AP": 1.0, "AP50": 1.0, "AP75": 1.0, "AR": 1.0}


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_missed_object_of_two_halves_recall(backend: str) -> None:
    result = coco_segm_metrics([TWO], [TWO.select([1])], backend=backend)
    assert result["AR"] == pytest.approx(0.5)
    # precision is 1 up to recall 0.5 (51 of the 101 recall points) and 0 after
    assert result["AP"] == pytest.approx(51 / 101)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shift", [2, 4, 7])
def test_shifted_mask_crosses_thresholds_at_hand_computed_iou(shift: int, backend: str) -> None:
    side = 20
    gt = squares(64, [(10, 10, 10 + side, 10 + side)])
    pred = squares(64, [(10, 10 + shift, 10 + side, 10 + side + shift)])
    iou = (side - shift) / (side + shift)  # overlap is (side - shift) columns of side rows
    assert pairwise_mask_iou(gt.masks, pred.masks)[0, 0] == pytest.approx(iou)
    result = coco_segm_metrics([gt], [pred], backend=backend)
    thresholds = np.linspace(0.5, 0.95, 10)
    assert result["AP"] == pytest.approx(np.mean(iou >= thresholds - 1e-12))
    assert result["AP50"] == pytest.approx(float(iou >= 0.5))
    assert result["AP75"] == pytest.approx(float(iou >= 0.75))


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_predictions_and_empty_ground_truth(backend: str) -> None:
    empty = Instances.empty(64, 64)
    assert coco_segm_metrics([TWO], [empty], backend=backend) == {"AP": 0.0, "AP50": 0.0, "AP75": 0.0, "AR": 0.0}
    # an image without objects: its (equally ranked, earlier) predictions are false positives
    both = coco_segm_metrics([empty, TWO], [TWO, TWO], backend=backend)
    assert both["AR"] == 1.0
    assert both["AP"] == pytest.approx(0.5)  # precision 0.5 at every recall point
    # no ground truth anywhere: undefined, reported as pycocotools' -1
    assert coco_segm_metrics([empty], [TWO], backend=backend)["AP"] == -1.0
    assert coco_segm_metrics([empty], [empty], backend=backend)["AR"] == -1.0


def test_unscored_predictions_are_ranked_in_order() -> None:
    wrong = squares(64, [(40, 0, 60, 20)])
    ordered_good_first = Instances(np.concatenate([TWO.masks, wrong.masks]))
    ordered_bad_first = Instances(np.concatenate([wrong.masks, TWO.masks]))
    first = coco_segm_metrics([TWO], [ordered_good_first])
    second = coco_segm_metrics([TWO], [ordered_bad_first])
    assert first["AP"] == 1.0 and second["AP"] < 1.0
    # the original protocol ignores the scores, keeping the order
    scored = Instances(ordered_bad_first.masks, scores=np.array([0.1, 0.9, 0.8]))
    assert coco_segm_metrics([TWO], [scored])["AP"] == 1.0
    assert coco_segm_metrics([TWO], [scored], protocol="original")["AP"] == second["AP"]


def test_original_protocol_drops_predictions_on_the_bin() -> None:
    bin_mask = np.zeros((64, 64), dtype=bool)
    bin_mask[:, 52:] = True
    on_bin = squares(64, [(0, 50, 20, 64)])  # 12 of 14 columns on the bin
    preds = Instances(np.concatenate([on_bin.masks, TWO.masks]))
    kept = coco_segm_metrics([TWO], [preds], protocol="original", bin_masks=[bin_mask])
    ignored = coco_segm_metrics([TWO], [preds], protocol="original")
    assert kept["AP"] == 1.0 and ignored["AP"] < 1.0


def test_mismatched_sizes_and_missing_labels_are_data_errors() -> None:
    with pytest.raises(DataError, match="64×64"):
        coco_segm_metrics([TWO], [Instances.empty(32, 32)])
    with pytest.raises(DataError, match="no ground-truth"):
        coco_segm_metrics([None], [TWO])  # type: ignore[list-item]
    with pytest.raises(DataError, match="predictions"):
        coco_segm_metrics([TWO, TWO], [TWO])
    with pytest.raises(DataError, match="1 bin masks for 2 images.*Fix:"):
        coco_segm_metrics([TWO, TWO], [TWO, TWO], bin_masks=[None])


def random_scene(rng: np.random.Generator, size: int = 48) -> tuple[Instances, Instances]:
    """Ground-truth rectangles and noisy, partly wrong scored predictions of them."""
    n = int(rng.integers(0, 6))
    gt = np.zeros((n, size, size), dtype=bool)
    for k in range(n):
        y, x = rng.integers(0, size - 8, 2)
        h, w = rng.integers(4, 20, 2)
        gt[k, y : y + h, x : x + w] = True
    preds = []
    for k in range(n):
        if rng.random() < 0.8:
            dy, dx = rng.integers(-1, 2, 2)
            preds.append(np.roll(gt[k], (dy, dx), axis=(0, 1)))
    for _ in range(int(rng.integers(0, 4))):
        m = np.zeros((size, size), dtype=bool)
        y, x = rng.integers(0, size - 5, 2)
        m[y : y + int(rng.integers(3, 15)), x : x + int(rng.integers(3, 15))] = True
        preds.append(m)
    pred = np.stack(preds) if preds else np.zeros((0, size, size), dtype=bool)
    return Instances(gt), Instances(pred, scores=rng.random(len(pred)))


def test_agrees_with_pycocotools_cocoeval_on_random_set(tmp_path) -> None:
    rng = np.random.default_rng(7)
    scenes = [random_scene(rng) for _ in range(40)]
    gts, preds = [s[0] for s in scenes], [s[1] for s in scenes]
    # the reference: pycocotools' own loaders and summarize() on files written to disk
    images, annotations = [], []
    for i, gt in enumerate(gts, start=1):
        images.append({"id": i, "height": 48, "width": 48})
        for rle, _, _ in encode_masks_with_geometry(gt.masks):
            annotations.append({"id": len(annotations) + 1, "image_id": i, "category_id": 1,
                                "segmentation": rle, "area": float(rle_area(rle)), "iscrowd": 0})
    gt_file, dt_file = tmp_path / "gt.json", tmp_path / "dt.json"
    gt_file.write_text(json.dumps({"images": images, "annotations": annotations,
                                   "categories": [{"id": 1, "name": "object"}]}))
    dt_file.write_text(json.dumps(coco_detections(preds)))
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(str(gt_file))
        reference = COCOeval(coco_gt, coco_gt.loadRes(str(dt_file)), "segm")
        reference.params.useCats = 0
        reference.evaluate()
        reference.accumulate()
        reference.summarize()
    stats = reference.stats
    for backend in BACKENDS:
        ours = coco_segm_metrics(gts, preds, backend=backend)
        assert ours["AP"] == pytest.approx(stats[0], abs=1e-6)
        assert ours["AP50"] == pytest.approx(stats[1], abs=1e-6)
        assert ours["AP75"] == pytest.approx(stats[2], abs=1e-6)
        assert ours["AR"] == pytest.approx(stats[8], abs=1e-6)
    assert 0.1 < stats[0] < 0.95  # the random set is neither trivial nor hopeless


def rle_area(rle: dict) -> float:
    from pycocotools import mask as mask_utils

    return float(mask_utils.area(rle))


@pytest.mark.parametrize("seed", [3, 4])
def test_backends_agree_with_tied_scores_in_order(seed: int) -> None:
    rng = np.random.default_rng(seed)
    scenes = [random_scene(rng) for _ in range(25)]
    gts = [s[0] for s in scenes]
    preds = [Instances(s[1].masks) for s in scenes]  # no scores: ties resolved by order
    # duplicates: two predictions with the same IoU compete for one object
    preds[0] = Instances(np.concatenate([gts[1].masks[:1], gts[1].masks[:1]])) if len(gts[1]) else preds[0]
    gts[0] = gts[1]
    reference = coco_segm_evaluation(gts, preds, backend="pycocotools")
    assert reference.precision.shape == (10, 101)
    for backend in ("faster", "sdmr"):
        other = coco_segm_evaluation(gts, preds, backend=backend)
        assert other.backend == backend
        for key, value in reference.metrics.items():
            assert other.metrics[key] == pytest.approx(value, abs=1e-9), (backend, key)
        np.testing.assert_allclose(other.precision, reference.precision, atol=1e-9)
        np.testing.assert_allclose(other.recall, reference.recall, atol=1e-9)


def test_native_backend_on_stored_records_matches_pycocotools() -> None:
    rng = np.random.default_rng(9)
    scenes = [random_scene(rng) for _ in range(30)]
    records = [image_coco_entries(i + 1, g, p) for i, (g, p) in enumerate(scenes)]
    images = [r[0] for r in records]
    anns = [a for r in records for a in r[1]]
    dets = [d for r in records for d in r[2]]
    reference = evaluate_coco(images, anns, dets, backend="pycocotools")
    native = evaluate_coco(images, anns, dets, backend="sdmr")
    np.testing.assert_allclose(native.precision, reference.precision, atol=1e-9)
    assert native.metrics == pytest.approx(reference.metrics, abs=1e-9)


@pytest.mark.parametrize("backend", BACKENDS)
def test_equal_iou_tie_goes_to_the_later_ground_truth(backend: str) -> None:
    """COCOeval's rule: among equal best IoUs the later object is matched (worked by hand here)."""
    gt = squares(64, [(10, 10, 30, 20), (10, 20, 30, 30)])  # A and B, 200 px each, side by side
    both = gt.masks.any(axis=0)  # IoU 0.5 with A and with B
    pred = Instances(np.stack([both, gt.masks[0]]), scores=np.array([0.9, 0.8]))
    result = coco_segm_metrics([gt], [pred], backend=backend)
    # at IoU 0.50 the union takes B (the later one), so the exact copy of A still finds A:
    # two hits, precision 1 at every recall → AP50 1; above 0.50 only A's copy matches
    assert result["AP50"] == pytest.approx(1.0)
    assert result["AR"] == pytest.approx((2 + 9 * 1) / 2 / 10)
