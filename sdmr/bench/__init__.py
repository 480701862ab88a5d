"""The common benchmark: the Method protocol, metrics, and the harness behind ``sdmr-bench``.

Names are imported lazily so that ``import sdmr.bench.method`` (what a plugin needs) does not
pull in pycocotools and the metrics stack.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "BaseMethod": "sdmr.bench.method",
    "Method": "sdmr.bench.method",
    "coco_segm_metrics": "sdmr.bench.metrics",
    "overlap_boundary_metrics": "sdmr.bench.overlap",
}
__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sdmr.bench' has no attribute {name!r}")
