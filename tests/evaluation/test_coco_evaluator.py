"""`CocoEvaluator`: reset / process / evaluate, and the state merge DDP ranks use."""

from __future__ import annotations

import numpy as np
import pytest

from sdmr.data.instances import Instances
from sdmr.evaluation import CocoEvaluator, coco_segm_metrics


def _scene(rng: np.random.Generator) -> tuple[Instances, Instances]:
    gt = np.zeros((3, 32, 32), dtype=bool)
    for k in range(3):
        gt[k, 10 * k : 10 * k + 8, 4:20] = True
    pred = np.roll(gt, int(rng.integers(0, 5)), axis=2)
    return Instances(gt), Instances(pred, scores=rng.random(3))


@pytest.mark.parametrize("backend", ["pycocotools", "sdmr"])
def test_evaluator_matches_the_metric_and_merges_ranks_counting_each_image_once(backend):
    rng = np.random.default_rng(0)
    scenes = [_scene(rng) for _ in range(4)]
    expected = coco_segm_metrics([g for g, _ in scenes], [p for _, p in scenes], backend=backend)
    ranks = [CocoEvaluator(backend=backend) for _ in range(2)]
    for image_id, (gt, pred) in enumerate(scenes, start=1):
        ranks[image_id % 2].process([{"image_id": image_id, "instances": gt}], [pred])
    ranks[0].process([{"image_id": 1, "instances": scenes[0][0]}], [scenes[0][1]])  # a DDP padding repeat
    merged = CocoEvaluator(backend=backend)
    merged.merge(rank.state() for rank in ranks)
    merged.gather_state()  # not distributed: a no-op
    assert len(merged) == 4 and merged.evaluate() == expected
    assert merged.evaluate()["AP"] != CocoEvaluator(backend=backend).evaluate()["AP"]  # -1 when empty
    merged.reset()
    assert len(merged) == 0


def test_evaluator_refuses_mismatched_batches_and_bad_predictions():
    evaluator = CocoEvaluator()
    gt, _ = _scene(np.random.default_rng(1))
    with pytest.raises(ValueError, match="one prediction per image"):
        evaluator.process([{"image_id": 1, "instances": gt}], [])
    with pytest.raises(Exception, match="predicted masks are 8×8"):
        evaluator.process([{"image_id": 1, "instances": gt}], [Instances.empty(8, 8)])
    with pytest.raises(ValueError, match="unknown protocol"):
        CocoEvaluator(protocol="paper")
