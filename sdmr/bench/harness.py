"""Run methods over a dataset split and write a run folder (detectron2 ``inference_on_dataset`` style).

The harness knows a method only through ``predict`` (given the sample without its labels):
it times data loading, prediction and
evaluation separately (the first ``warmup`` images of each process excluded), checks every
output, stores each image's result as one JSONL line before moving on (so an interrupted run
resumes where it stopped), and scores the whole split at the end from the stored RLEs, never
holding the masks of the split in memory. A method that raises or returns a wrong type/shape
fails that image only: it is recorded with the error and scored as "found nothing".

Run folder::

    run_config.json  results.json  table.md  table.csv  per_image.csv  ground_truth.json
    methods/<name>/progress.jsonl  detections.json  pr_curve.json
    overlays/<name>/{worst,best}_<rank>_<image>.png
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import platform
import shutil
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from sdmr.bench.method import FitConfig
from sdmr.bench.metrics import COCO_METRIC_KEYS, merged_pairs
from sdmr.bench.overlap import OVERLAP_KEYS, mean_overlap_metrics, overlap_boundary_metrics
from sdmr.bench.progress import ProgressLog
from sdmr.bench.registry import ParameterError, build_method, get_method, parse_overrides
from sdmr.data.atomic import atomic_write_text
from sdmr.data.errors import DataError
from sdmr.data.instances import Instances
from sdmr.data.lock import LOCK_NAME, FolderLock
from sdmr.data.safe_load import load_json_object
from sdmr.data.sample import Sample
from sdmr.errors import ConfigError
from sdmr.evaluation import CocoEvaluator

RESULT_KEYS = (*COCO_METRIC_KEYS, "merged_pairs", *OVERLAP_KEYS, "seconds_per_image", "num_images", "num_failed")
SCHEMA_VERSION = 1
VERSIONED_PACKAGES = ("sdmr", "numpy", "scipy", "torch", "torchvision", "pycocotools", "faster-coco-eval")
# what must match for a run folder to be resumed (the rest, e.g. workers, may change)
RESUME_KEYS = ("dataset", "dataset_type", "split", "params", "fit_split", "limit", "protocol", "intrinsics")
CAMERA_LESS_DATASETS = ("ocid", "folder", "coco_json")  # the ones --intrinsics applies to
COLOR_DATASETS = ("wisdom_sim", "wisdom_real", "ocid")  # the readers that can load colour images
FAIL_FAST_IMAGES = 3


@dataclass
class BenchConfig:
    """Everything one ``sdmr-bench`` run needs; stored in ``run_config.json``."""

    dataset: str
    output: str
    methods: list[str]
    dataset_type: str | None = None  # None: detected from the folder layout
    split: str | None = "test"
    params: list[str] = field(default_factory=list)  # "name=value" or "method.name=value"
    fit_split: str | None = None
    intrinsics: str | None = None  # an .intr file for datasets that ship no camera (OCID, folder, COCO JSON)
    workers: int = 0
    limit: int | None = None
    protocol: str = "standard"
    backend: str = "auto"
    num_overlays: int = 3
    warmup: int = 1
    overwrite: bool = False
    show_progress: bool = True


# ------------------------------------------------------------------ datasets and methods
def open_split(
    dataset: str, dataset_type: str | None, split: str | None, intrinsics: str | None = None,
    inputs: Sequence[str] = (),
) -> tuple[Sequence[Sample], str]:
    """The dataset split and the type it was opened as (detected when not given).

    ``inputs``: sample fields beyond depth that some method reads (``"color"`` loads colour images).
    """
    from sdmr.data.catalog import detect_dataset, open_dataset

    kind = dataset_type or detect_dataset(dataset)
    kwargs: dict[str, Any] = {}
    if "color" in inputs:
        if kind not in COLOR_DATASETS:
            raise DataError(f"a selected method reads colour images, which {kind!r} datasets do not provide", dataset,
                            f"use a {', '.join(COLOR_DATASETS)} dataset with colour images, or depth-only methods")
        kwargs["load_color"] = True
    if intrinsics is not None:
        if kind not in CAMERA_LESS_DATASETS:
            raise DataError(f"--intrinsics applies to {', '.join(CAMERA_LESS_DATASETS)} datasets, not {kind!r}",
                            dataset, f"drop --intrinsics: {kind} images carry their own camera")
        kwargs["intrinsics"] = intrinsics
    return open_dataset(kind, dataset, split, **kwargs), kind


def check_methods_ready(methods: dict[str, Any], first: Sample, first_train: Sample | None) -> None:
    """Each method's ``check_ready`` on the first sample it will read (the fit split's when fitting)."""
    for method in methods.values():
        check = getattr(method, "check_ready", None)
        if check is not None:
            check(first if first_train is None else first_train, first_train is not None)


def _first_sample(dataset: Sequence[Sample], path: str, split: str | None, readers: dict[str, list[str]]) -> Sample:
    """Sample 0, or the reader's DataError with the split named and, when a method's extra input
    (``readers``: input → method names) is what is missing, those methods."""
    try:
        return dataset[0]
    except DataError as err:
        if readers.get("color") and "colour" in err.problem:
            raise DataError(
                f"split {split!r} lacks the colour images {', '.join(readers['color'])} reads: {err.problem}",
                err.path or path,
                "benchmark a dataset with colour images (sdmr-generate --color writes color_ims/), or drop "
                "the colour method",
            ) from None
        raise DataError(f"split {split!r}: {err.problem}", err.path or path, err.fix) from None


def method_overrides(methods: list[str], assignments: list[str]) -> dict[str, list[str]]:
    """Route each ``--param``: ``method.name=value`` to that method, ``name=value`` to every
    selected method that has a parameter ``name`` (an error when none has)."""
    routed: dict[str, list[str]] = {m: [] for m in methods}
    for item in assignments:
        key = item.partition("=")[0].strip()
        prefix, dot, _ = key.partition(".")
        if dot and prefix in routed:
            routed[prefix].append(item[len(prefix) + 1 :])
            continue
        owners = [m for m in methods if key in {p[0] for p in get_method(m).parameters()}]
        if not owners:
            raise ParameterError(
                f"--param {item!r}: no selected method has a parameter {key!r} "
                f"(write method.name=value to address one method)"
            )
        for owner in owners:
            routed[owner].append(item)
    for name, items in routed.items():
        parse_overrides(get_method(name), items)  # fail before any work on a bad value
    return routed


def package_versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def _params_of(method: Any) -> dict:
    params = getattr(method, "params", None)
    return dataclasses.asdict(params) if dataclasses.is_dataclass(params) else {}


# ------------------------------------------------------------------ one image
_WORKER: dict[str, Any] = {}


def _init_worker(method: Any, dataset: Sequence[Sample], protocol: str, warmup: int) -> None:
    _WORKER.update(method=method, dataset=dataset, protocol=protocol, warmup=warmup, processed=0,
                   evaluator=CocoEvaluator(protocol, backend="sdmr"))  # per-image records only: no backend runs


def _init_forked_worker(method: Any, dataset: Sequence[Sample], protocol: str, warmup: int) -> None:
    """One compute thread per worker process, as torch's DataLoader workers do: N processes
    already use N cores, and OpenMP pools inherited through fork are not safe to reuse.
    Ctrl-C is the parent's to report (it cancels the pool and keeps the finished images)."""
    from sdmr.cli import ignore_sigint_in_worker

    ignore_sigint_in_worker()
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)
    _init_worker(method, dataset, protocol, warmup)


def process_image(position: int) -> dict:
    """Load, predict, check and score one image of the split installed by ``_init_worker``."""
    method, dataset, evaluator = _WORKER["method"], _WORKER["dataset"], _WORKER["evaluator"]
    t0 = time.perf_counter()
    sample = dataset[position]
    t1 = time.perf_counter()
    gt = sample["instances"]
    where = f"image {sample.get('name', sample['image_id'])} (position {position})"
    if gt is None:
        raise DataError(f"{where} has no ground-truth labels, so methods cannot be scored on it",
                        fix="benchmark a labelled split; use sdmr-segment for unlabelled images")
    error = None
    unlabelled = {key: value for key, value in sample.items() if key != "instances"}
    try:  # methods never see the labels they are scored against
        pred = method.predict(unlabelled)
    except Exception as err:  # noqa: BLE001 - a broken method fails this image only
        pred, error = None, f"{type(err).__name__}: {err}"
    t2 = time.perf_counter()
    entry = {"image_id": position + 1, "instances": gt, "where": where}
    if pred is not None:
        try:  # checks the output's type and size before scoring it
            coco = evaluator.make_record({**entry, "bin_mask": sample.get("bin_mask")}, pred)
            scores = overlap_boundary_metrics(gt, pred)
            merged = merged_pairs(gt, pred)
        except Exception as err:  # noqa: BLE001 - a wrong output fails this image only
            pred, error = None, f"{type(err).__name__}: {err}"
    if pred is None:  # scored as "found nothing"
        empty = Instances.empty(*gt.image_size)
        coco = evaluator.make_record(entry, empty)
        scores = overlap_boundary_metrics(gt, empty)
        merged = 0
    t3 = time.perf_counter()
    _WORKER["processed"] += 1
    return {
        "position": position,
        "image_id": int(sample["image_id"]),
        "name": str(sample.get("name", sample["image_id"])),
        "status": "ok" if error is None else "failed",
        "error": error,
        "num_gt": len(gt),
        "num_pred": len(coco["detections"]),
        "metrics": scores,
        "merged_pairs": merged,
        "time": {"data": t1 - t0, "predict": t2 - t1, "eval": t3 - t2},
        "warmup": _WORKER["processed"] <= _WORKER["warmup"],
        "coco": coco,
    }


# ------------------------------------------------------------------ one method
class MethodFailed(RuntimeError):
    """A method failed its first images all with the same error: a setup problem, not bad luck."""


class _FailFast:
    """Stop a run whose first ``FAIL_FAST_IMAGES`` images all failed with one identical error
    (a missing checkpoint, say) instead of burning hours failing every image the same way."""

    def __init__(self, name: str, log_path: Path) -> None:
        self.name, self.log_path, self.errors = name, log_path, []

    def check(self, record: dict) -> None:
        if len(self.errors) >= FAIL_FAST_IMAGES:
            return
        self.errors.append(record["error"])
        if len(self.errors) == FAIL_FAST_IMAGES and self.errors[0] is not None and len(set(self.errors)) == 1:
            raise MethodFailed(
                f"method {self.name!r} failed on its first {FAIL_FAST_IMAGES} images with the same error, "
                f"so the run stopped: {self.errors[0]} (per-image records: {self.log_path}; failed images are "
                "retried when the run is resumed)"
            )


def _run_images(method: Any, dataset: Sequence[Sample], log: ProgressLog, config: BenchConfig, label: str) -> None:
    positions = range(len(dataset) if config.limit is None else min(config.limit, len(dataset)))
    pending = [p for p in positions if not log.done(p)]
    bar = tqdm(total=len(positions), initial=len(positions) - len(pending), desc=label,
               unit="img", disable=not config.show_progress)
    fail_fast = _FailFast(label, log.path)

    def store(record: dict) -> None:
        log.append(record)
        bar.update()
        fail_fast.check(record)

    try:
        if config.workers <= 1 or len(pending) <= 1:
            _init_worker(method, dataset, config.protocol, config.warmup)
            try:
                for position in pending:
                    store(process_image(position))
            finally:
                _WORKER.clear()  # do not keep the method and dataset alive after the run
        else:  # fork: workers inherit the (possibly fitted) method without pickling it
            context = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(config.workers, mp_context=context, initializer=_init_forked_worker,
                                     initargs=(method, dataset, config.protocol, config.warmup)) as pool:
                futures = [pool.submit(process_image, p) for p in pending]
                try:
                    for future in as_completed(futures):
                        store(future.result())
                except BaseException:
                    for future in futures:
                        future.cancel()
                    raise
    finally:
        bar.close()


def _timing_summary(records: list[dict]) -> dict[str, float]:
    timed = [r for r in records if r["status"] == "ok" and not r["warmup"]] or records
    summary = {f"{k}_seconds_mean": float(np.mean([r["time"][k] for r in timed])) if timed else float("nan")
               for k in ("data", "predict", "eval")}
    summary["timed_images"] = len(timed)
    return summary


def _total_merged(records: list[dict]) -> float:
    """Ground-truth pairs merged over the split (NaN when resumed from records that predate the count)."""
    counts = [r.get("merged_pairs") for r in records]
    return float("nan") if any(c is None for c in counts) else float(sum(counts))


def summarize_method(name: str, method: Any, records: list[dict], backend: str, folder: Path) -> dict:
    """Score one method's stored records and write its detections and PR curve."""
    evaluator = CocoEvaluator(backend=backend)  # the protocol was applied when each record was made
    evaluator.add_records(r["coco"] for r in records)
    coco = evaluator.evaluation()
    dets = [d for r in evaluator.state() for d in r["detections"]]
    timings = _timing_summary(records)
    result = {
        **coco.metrics,
        "merged_pairs": _total_merged(records),
        **mean_overlap_metrics(r["metrics"] for r in records),
        "seconds_per_image": timings["predict_seconds_mean"],
        "num_images": len(records),
        "num_failed": sum(r["status"] != "ok" for r in records),
        "timings": timings,
        "params": _params_of(method),
        "coco_backend": coco.backend,
    }
    atomic_write_text(folder / "detections.json", json.dumps(dets))
    atomic_write_text(folder / "pr_curve.json", json.dumps({
        "method": name,
        "iou_thresholds": coco.iou_thresholds.tolist(),
        "recall_thresholds": coco.recall_thresholds.tolist(),
        "precision": coco.precision.tolist(),
    }))
    return result


# ------------------------------------------------------------------ the run
def check_run_settings(config: BenchConfig) -> None:
    """Refuse, before any dataset or model is opened or anything written, numbers that cannot
    work and an output folder that is not ours (a file, not writable, someone else's files)."""
    from sdmr.cli import check_output_dir

    for option, value, low in (("--workers", config.workers, 0), ("--limit", config.limit, 1),
                               ("--overlays", config.num_overlays, 0), ("--warmup", config.warmup, 0)):
        if value is not None and value < low:
            raise ConfigError(f"{option} must be >= {low}, got {value}",
                              fix=f"pass {option} {max(low, 1)}" + (" (or leave it out)" if option == "--limit" else ""))
    check_output_dir(config.output, "--output", ("run_config.json",), "an sdmr-bench run folder (no run_config.json)")


def _start_run_folder(config: BenchConfig, kind: str, out: Path) -> dict:
    stored = {**dataclasses.asdict(config), "dataset": str(Path(config.dataset).resolve()), "dataset_type": kind}
    config_path = out / "run_config.json"
    if out.is_dir() and any(p.name != LOCK_NAME for p in out.iterdir()) and not config_path.exists():
        raise DataError("the output folder exists and is not an sdmr-bench run folder (no run_config.json)",
                        out, "choose a new or empty --output folder")
    if config.overwrite and out.exists():
        shutil.rmtree(out / "methods", ignore_errors=True)
    elif config_path.exists():
        previous = load_json_object(config_path, "run configuration", "choose a new or empty --output folder",
                                    "pass --overwrite to start again there, or choose another --output")
        changed = [k for k in RESUME_KEYS if previous.get(k) != stored.get(k)]
        if changed:
            raise DataError(
                f"the folder holds a run with a different {', '.join(changed)}, so it cannot be resumed",
                out,
                "pass --overwrite to start again there, or choose another --output",
            )
    atomic_write_text(config_path, json.dumps(stored, indent=2))
    return stored


def run_benchmark(config: BenchConfig) -> dict:
    """Run every method of ``config`` and write the run folder; returns ``results.json``'s content.

    Everything that can be refused (settings, method parameters, the output folder, the dataset)
    is refused before the run folder is touched; the folder is locked for the run (`FolderLock`).
    """
    if not config.methods:
        raise ParameterError("no method selected: pass --method NAME (see sdmr-bench --list)")
    check_run_settings(config)
    backend = CocoEvaluator(config.protocol, config.backend).backend  # checked before any work: scoring comes last
    overrides = method_overrides(config.methods, config.params)
    methods = {name: build_method(name, overrides[name]) for name in config.methods}  # bad parameters: now
    readers: dict[str, list[str]] = {}
    for name, method in methods.items():
        for field_name in getattr(method, "inputs", ()):
            readers.setdefault(field_name, []).append(name)
    inputs = sorted(readers)
    dataset, kind = open_split(config.dataset, config.dataset_type, config.split, config.intrinsics, inputs)
    if len(dataset) == 0:
        raise DataError(f"split {config.split!r} holds no images", config.dataset,
                        "choose another --split ('all' = every image) or check the dataset folder")
    first = _first_sample(dataset, config.dataset, config.split, readers)
    if first["instances"] is None:
        raise DataError(
            f"dataset type {kind!r} split {config.split!r} has no ground-truth labels, so it cannot be scored",
            config.dataset,
            "benchmark a labelled dataset (WISDOM modal_segmasks/, OCID label/, COCO annotations)",
        )
    train = None if config.fit_split is None else open_split(config.dataset, kind, config.fit_split,
                                                                 config.intrinsics, inputs)[0]
    if train is not None and len(train) == 0:
        raise DataError(f"fit split {config.fit_split!r} holds no images", config.dataset,
                        "choose another --fit-split (e.g. train) or check the dataset folder")
    check_methods_ready(methods, first, None if train is None else _first_sample(train, config.dataset, config.fit_split, readers))
    out = Path(config.output)
    with FolderLock(out, "sdmr-bench"):  # one writer per run folder
        stored = _start_run_folder(config, kind, out)
        return _run_methods(config, methods, dataset, train, kind, out, stored, backend)


def _run_methods(config: BenchConfig, methods: dict[str, Any], dataset: Sequence[Sample],
                 train: Sequence[Sample] | None, kind: str, out: Path, stored: dict, backend: str) -> dict:
    from sdmr.bench import report

    results: dict[str, dict] = {}
    records_by_method: dict[str, list[dict]] = {}
    for name, method in methods.items():
        folder = out / "methods" / name
        if train is not None:
            folder.mkdir(parents=True, exist_ok=True)
            method.fit(train, FitConfig(output_dir=folder))
        log = ProgressLog(folder / "progress.jsonl")
        _run_images(method, dataset, log, config, name)
        records = log.ordered()
        records_by_method[name] = records
        results[name] = summarize_method(name, method, records, backend, folder)
        notes = getattr(method, "result_notes", None)
        results[name].update(notes() if notes is not None else {})
    first = next(iter(records_by_method.values()))
    document = {
        "schema_version": SCHEMA_VERSION,
        "methods": results,
        "dataset": {"path": stored["dataset"], "type": kind, "split": config.split,
                    "num_images": len(first)},
        "config": stored,
        "versions": package_versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    report.write_ground_truth(out / "ground_truth.json", first)
    report.write_run_tables(out, document)
    report.write_per_image_csv(out / "per_image.csv", records_by_method)
    for name, records in records_by_method.items():
        report.write_overlays(out / "overlays" / name, dataset, records, config.num_overlays)
    atomic_write_text(out / "results.json", json.dumps(document, indent=2, default=str))
    return document
