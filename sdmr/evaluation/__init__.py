"""Evaluation shared by training validation and sdmr-bench: the COCO core, the OCID overlap
metrics, and `CocoEvaluator` (reset / process / evaluate, with DDP state gathering)."""

from sdmr.evaluation.coco import COCO_METRIC_KEYS, CocoEvaluation, coco_segm_metrics, evaluate_coco
from sdmr.evaluation.evaluator import CocoEvaluator, CocoRecord

__all__ = ["COCO_METRIC_KEYS", "CocoEvaluation", "CocoEvaluator", "CocoRecord", "coco_segm_metrics", "evaluate_coco"]
