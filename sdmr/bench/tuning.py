"""Parameter search for ``fit``: a grid of candidate settings scored by the harness's own COCO AP,
and the file that carries the chosen settings from a fitting run to a later one.

Why here and not in each baseline: every tuned method (the paper tunes region growing on 10
training images) needs the same search, the same score and the same file format.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from sdmr.data.atomic import atomic_write_text
from sdmr.data.errors import DataError
from sdmr.data.instances import Instances
from sdmr.data.safe_load import load_json_object

FITTED_PARAMS_FILE = "fitted_params.json"


def parameter_grid(axes: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the axes' values (the last axis varies fastest); repeats removed."""
    names = list(axes)
    values = [list(dict.fromkeys(axes[name])) for name in names]
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values)]


def coco_ap(ground_truth: Sequence[Instances], predictions: Sequence[Instances]) -> float:
    """The harness's COCO mask AP (class-agnostic, numpy matcher: identical to pycocotools)."""
    from sdmr.bench.metrics import coco_segm_metrics

    return coco_segm_metrics(ground_truth, predictions, backend="sdmr")["AP"]


def grid_search(
    candidates: Sequence[dict[str, Any]], score: Callable[[dict[str, Any]], float], desc: str = "fit"
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The candidate with the highest score (the first one on ties: put the current setting first
    so that a search never moves away from it for nothing), and every candidate with its score."""
    table: list[dict[str, Any]] = []
    best, best_score = None, float("-inf")
    for candidate in tqdm(candidates, desc=desc, unit="setting", leave=False):
        value = float(score(candidate))
        table.append({**candidate, "AP": value})
        if value > best_score:
            best, best_score = candidate, value
    if best is None:
        raise DataError("the parameter search got no candidate settings", fix="give every fit grid at least one value")
    return best, table


def write_fitted_params(folder: str | Path, method: str, params: Mapping[str, Any], table: list[dict]) -> Path:
    """``<folder>/fitted_params.json``: the chosen parameters and the score of every candidate."""
    path = Path(folder) / FITTED_PARAMS_FILE
    atomic_write_text(path, json.dumps({"method": method, "params": dict(params), "search": table}, indent=2))
    return path


def read_fitted_params(path: str | Path, method: str, allowed: Sequence[str]) -> dict[str, Any]:
    """The ``params`` a fitting run of ``method`` wrote, checked against the parameters it may set."""
    fix = f"pass the {FITTED_PARAMS_FILE} that `sdmr-bench --method {method} --fit-split train` wrote"
    document = load_json_object(Path(path), "fitted parameters", fix, fix)
    params = document.get("params")
    if document.get("method") != method or not isinstance(params, dict):
        raise DataError(f"not fitted parameters of {method!r} (method {document.get('method')!r})", path, fix)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise DataError(f"unknown parameters {', '.join(unknown)} for {method!r}", path, fix)
    return params
