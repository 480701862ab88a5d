"""One method's attempt at one trial: segment → pick the target's mask → plan → execute → outcome.

The method gets the trial's sample (noisy depth, colour, camera; no labels) through ``predict``,
exactly as ``sdmr-bench`` calls it; a method that raises or returns something that is not
`Instances` of the image's size ends that trial as ``no_segment`` with the error kept, never the
run. The record holds only what follows from ``(seed, k)`` and the method, so the same trial
gives the same bytes; timings go to a separate record.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np

from sdmr.data.coco import encode_masks_with_geometry
from sdmr.data.instances import Instances
from sdmr.grasp.config import GraspConfig
from sdmr.grasp.execute import execute_suction
from sdmr.grasp.identify import TargetModel
from sdmr.grasp.outcomes import classify
from sdmr.grasp.suction import plan_suction
from sdmr.grasp.world import Trial, TrialWorld


def _checked(pred: Any, shape: tuple[int, int]) -> Instances:
    if not isinstance(pred, Instances):
        raise TypeError(f"predict returned {type(pred).__name__}, not Instances")
    if tuple(pred.masks.shape[1:]) != shape:
        raise ValueError(f"predict returned masks of {tuple(pred.masks.shape[1:])} for a {shape} image")
    return pred


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return float(np.count_nonzero(a & b) / union) if union else 0.0


def attempt(world: TrialWorld, trial: Trial, method: Any, target: TargetModel, cfg: GraspConfig) -> tuple[dict, dict]:
    """(record, timing) of ``method`` on ``trial`` (see the module docstring)."""
    record: dict[str, Any] = {
        "position": trial.index, "status": "ok", "trial": trial.index, "method": method.name,
        "target": trial.target, "target_object_id": trial.heap.objects[trial.target].object_id,
        "objects": len(trial.heap.objects), "masks": 0, "chosen": None, "match_score": None,
        "target_iou": None, "chosen_rle": None, "grasp": None, "contact": None, "lifted": [],
        "outcome": "no_segment", "detail": "", "error": None, "warnings": [],
    }
    depth = trial.sample["depth"]
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            pred = _checked(method.predict(dict(trial.sample)), depth.shape)
        except Exception as err:  # noqa: BLE001 - a broken method fails this trial only
            pred, record["error"] = None, f"{type(err).__name__}: {err}"
    record["warnings"] = sorted({str(w.message) for w in caught})
    t1 = time.perf_counter()
    timing = {"position": trial.index, "status": "ok", "predict": t1 - t0}
    if pred is None or len(pred) == 0:
        record["detail"] = "the method raised" if pred is None else "the method returned no masks"
        return record, {**timing, "total": t1 - t0}
    record["masks"] = len(pred)
    chosen, scores = target.choose(trial.sample["color"], depth, pred.masks, trial.view.intrinsics)
    t2 = time.perf_counter()
    if chosen is None or scores[chosen] < cfg.min_match:
        record["detail"] = ("no mask has the colour and depth pixels to match the target's views" if chosen is None
                            else f"no mask looks like the target (best match {scores[chosen]:.3f} < {cfg.min_match})")
        return record, {**timing, "identify": t2 - t1, "total": t2 - t0}
    mask = pred.masks[chosen]
    record.update(chosen=chosen, match_score=round(scores[chosen], 6), target_iou=round(_iou(mask, trial.target_mask()), 6),
                  chosen_rle=encode_masks_with_geometry(mask[None])[0][0])
    grasp, reason = plan_suction(depth, mask, trial.view.intrinsics, trial.view.world_from_camera, cfg.suction)
    t3 = time.perf_counter()
    if grasp is None:
        record.update(outcome="no_grasp", detail=reason)
        return record, {**timing, "identify": t2 - t1, "plan": t3 - t2, "total": t3 - t0}
    pick = execute_suction(world.sim, trial.heap, grasp, cfg.suction)
    t4 = time.perf_counter()
    record.update(grasp=grasp.as_record(), contact=pick.contact, lifted=pick.lifted,
                  outcome=classify(trial.target, pick), detail=pick.detail)
    return record, {**timing, "identify": t2 - t1, "plan": t3 - t2, "execute": t4 - t3, "total": t4 - t0}
