"""The common benchmark: the Method protocol, metrics, and the harness behind ``sdmr-bench``."""

from sdmr.bench.method import BaseMethod, Method
from sdmr.bench.metrics import coco_segm_metrics
from sdmr.bench.overlap import overlap_boundary_metrics

__all__ = ["BaseMethod", "Method", "coco_segm_metrics", "overlap_boundary_metrics"]
