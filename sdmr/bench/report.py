"""What a run folder shows a person: Table I-style tables, per-image CSV, PR curves, overlays.

Everything is written through ``sdmr.data.atomic`` (figures rendered into memory first), so a
crash never leaves a half-written table or PNG behind.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

from sdmr.bench.overlap import OVERLAP_KEYS
from sdmr.data.atomic import atomic_write_bytes, atomic_write_png, atomic_write_text, atomic_write_with
from sdmr.data.errors import DataError
from sdmr.data.instances import Instances, paint_labels
from sdmr.data.safe_load import load_json_object
from sdmr.data.sample import Sample
from sdmr.viz import caption, depth_to_grey, describe, overlay, side_by_side

# Table I of the paper: methods as rows, AP/AR first, then the OCID-style F columns
RUN_COLUMNS = (
    ("AP", "AP"), ("AP50", "AP50"), ("AP75", "AP75"), ("AR", "AR"), ("merged_pairs", "merged pairs"),
    ("overlap_P", "overlap P"), ("overlap_R", "overlap R"), ("overlap_F", "overlap F"),
    ("boundary_F", "boundary F"), ("pct_objects_F75", "%F>.75"),
    ("seconds_per_image", "s/image"), ("num_images", "images"), ("num_failed", "failed"),
)
COMPARE_COLUMNS = (("AP", "AP"), ("AR", "AR"), ("merged_pairs", "merged pairs"), ("overlap_F", "overlap F"),
                   ("boundary_F", "boundary F"))
CSV_KEYS = ("AP", "AP50", "AP75", "AR", "merged_pairs", *OVERLAP_KEYS, "seconds_per_image", "num_images", "num_failed")


def _fmt(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if np.isnan(value) else f"{value:.3f}"
    return str(value)


def _csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ one run
def method_label(name: str, result: dict) -> str:
    """The row name of a method: marked when it was trained without the pretrained weights its
    paper row used, so nobody mistakes it for that baseline."""
    return f"{name} (not pretrained)" if result.get("pretrained") is False else name


def write_run_tables(out: Path, document: dict) -> None:
    """``table.md`` / ``table.csv`` (rows = methods) and ``pr_curves.png`` of one run."""
    data = document["dataset"]
    header = ["method", *(label for _, label in RUN_COLUMNS)]
    rows = [[method_label(name, m), *(m[key] for key, _ in RUN_COLUMNS)] for name, m in document["methods"].items()]
    title = f"{data['type']} `{Path(data['path']).name}` split {data['split'] or 'all'}, {data['num_images']} images"
    protocol = document["config"].get("protocol", "standard")
    atomic_write_text(out / "table.md", f"{title} (COCO protocol: {protocol})\n\n" + markdown_table(header, rows))
    atomic_write_text(out / "table.csv", _csv_text(["method", *CSV_KEYS],
                                                   ([method_label(n, m), *(m[k] for k in CSV_KEYS)]
                                                    for n, m in document["methods"].items())))
    curves = {name: out / "methods" / name / "pr_curve.json" for name in document["methods"]}
    plot_pr_curves(curves, out / "pr_curves.png")


def write_ground_truth(path: Path, records: list[dict]) -> None:
    """The split's ground truth as a COCO JSON, so ``detections.json`` works with any COCO tool."""
    images = [{**r["coco"]["image"], "file_name": r["name"], "sdmr_image_id": r["image_id"]} for r in records]
    annotations = [{**a, "id": k} for k, a in
                   enumerate((a for r in records for a in r["coco"]["annotations"]), start=1)]
    atomic_write_text(path, json.dumps({"images": images, "annotations": annotations,
                                        "categories": [{"id": 1, "name": "object"}]}))


def write_per_image_csv(path: Path, records_by_method: dict[str, list[dict]]) -> None:
    header = ["method", "position", "image_id", "name", "status", "num_gt", "num_pred", "merged_pairs", *OVERLAP_KEYS,
              "data_s", "predict_s", "eval_s", "error"]
    rows = [
        [name, r["position"], r["image_id"], r["name"], r["status"], r["num_gt"], r["num_pred"],
         r.get("merged_pairs", ""), *(r["metrics"][k] for k in OVERLAP_KEYS), r["time"]["data"], r["time"]["predict"], r["time"]["eval"],
         r["error"] or ""]
        for name, records in records_by_method.items() for r in records
    ]
    atomic_write_text(path, _csv_text(header, rows))


# ------------------------------------------------------------------ figures
def plot_pr_curves(curves: dict[str, Path], path: Path) -> None:
    """Precision–recall at IoU 0.5 and averaged over IoU 0.50:0.95, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for label, curve_path in curves.items():
        curve = json.loads(Path(curve_path).read_text())
        precision = np.asarray(curve["precision"], dtype=float)
        precision[precision < 0] = np.nan
        recall = np.asarray(curve["recall_thresholds"])
        iou50 = int(np.argmin(np.abs(np.asarray(curve["iou_thresholds"]) - 0.5)))
        axes[0].plot(recall, precision[iou50], label=label)
        axes[1].plot(recall, np.nanmean(precision, axis=0) if np.isfinite(precision).any() else recall * np.nan,
                     label=label)
    for ax, title in zip(axes, ("IoU 0.50", "mean over IoU 0.50:0.95"), strict=True):
        ax.set(title=title, xlabel="recall", xlim=(0, 1), ylim=(0, 1.02))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("precision")
    axes[1].legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    atomic_write_with(path, lambda buf: fig.savefig(buf, format="png", dpi=100))
    plt.close(fig)


def render_overlay(depth: np.ndarray, gt: Instances, pred: Instances, method: str, image: str) -> np.ndarray:
    """Two captioned panels over the grey depth: the prediction (coloured, scores) | the ground truth."""
    grey = depth_to_grey(depth)
    panels = [
        caption(overlay(grey, paint_labels(found.masks, found.scores)), describe(found, method, image, what))
        for found, what in ((pred, "prediction"), (gt, "ground truth"))
    ]
    panel = side_by_side(panels)
    scale = max(1, 384 // max(depth.shape[0], 1))
    return np.repeat(np.repeat(panel, scale, axis=0), scale, axis=1) if scale > 1 else panel


def decode_records(annotations: list[dict], size: tuple[int, int]) -> np.ndarray:
    """Bool ``N×H×W`` masks of stored RLE records, cropped to ``size`` (undoes 512 padding)."""
    h, w = size
    if not annotations:
        return np.zeros((0, h, w), dtype=bool)
    masks = mask_utils.decode([a["segmentation"] for a in annotations])  # H'×W'×N
    return np.ascontiguousarray(np.transpose(masks, (2, 0, 1))[:, :h, :w].astype(bool))


def write_overlays(folder: Path, dataset: Sequence[Sample], records: list[dict], count: int) -> None:
    """PNG overlays of the ``count`` worst and best images by overlap F (failed images excluded)."""
    for stale in [*folder.glob("worst_*.png"), *folder.glob("best_*.png")]:  # from a previous run
        stale.unlink()
    scored = sorted((r for r in records if r["status"] == "ok"), key=lambda r: (r["metrics"]["overlap_F"], r["position"]))
    if count <= 0 or not scored:
        return
    picks = [("worst", k, r) for k, r in enumerate(scored[:count], 1)]
    picks += [("best", k, r) for k, r in enumerate(reversed(scored[-count:]), 1)]
    for kind, rank, record in picks:
        sample = dataset[record["position"]]
        depth = np.asarray(sample["depth"], dtype=np.float32)
        gt = sample["instances"]
        if gt is None:
            raise DataError(f"image {record['name']} lost its labels since it was scored",
                            fix="the dataset changed during the run: rerun it with --overwrite")
        detections = record["coco"]["detections"]
        pred = Instances(decode_records(detections, depth.shape), scores=[d["score"] for d in detections])
        rgb = render_overlay(depth, gt, pred, folder.name, record["name"])
        name = f"{kind}_{rank:02d}_{Path(record['name']).stem}_F{record['metrics']['overlap_F']:.2f}.png"
        atomic_write_png(folder / name, rgb)


# ------------------------------------------------------------------ compare
def load_run(run_dir: Path) -> dict:
    return load_json_object(
        Path(run_dir) / "results.json",
        "run results",
        "pass a finished sdmr-bench run folder (an unfinished run has none: rerun the same command to resume it)",
        "rerun the benchmark",
    )


def compare_runs(run_dirs: Sequence[str | Path], output: str | Path) -> Path:
    """Merge finished runs into one table (methods × datasets, like Table I) and one PR plot."""
    output = Path(output)
    runs = [(Path(d), load_run(Path(d))) for d in run_dirs]
    datasets, rows, curves = [], {}, {}
    for run_dir, doc in runs:
        data = doc["dataset"]
        dataset = f"{Path(data['path']).name}:{data['split'] or 'all'}"
        if dataset not in datasets:
            datasets.append(dataset)
        for name, metrics in doc["methods"].items():
            shown = method_label(name, metrics)
            taken = shown in rows and dataset in rows[shown]  # same method twice on one dataset
            label = f"{shown} ({run_dir.name})" if taken else shown
            rows.setdefault(label, {})[dataset] = (run_dir, metrics)
            curves[f"{label} @ {dataset}"] = run_dir / "methods" / name / "pr_curve.json"
    header = ["method", *(f"{d} {c}" for d in datasets for _, c in COMPARE_COLUMNS)]
    table = [[label, *(cells[d][1].get(k, float("nan")) if d in cells else "" for d in datasets for k, _ in COMPARE_COLUMNS)]
             for label, cells in rows.items()]
    output.mkdir(parents=True, exist_ok=True)
    atomic_write_text(output / "table.md", markdown_table(header, table))
    long_rows = [[str(run_dir), d, label, *(m.get(k, float("nan")) for k in CSV_KEYS)]  # older runs lack some
                 for label, cells in rows.items() for d, (run_dir, m) in cells.items()]
    atomic_write_text(output / "table.csv", _csv_text(["run", "dataset", "method", *CSV_KEYS], long_rows))
    plot_pr_curves(curves, output / "pr_curves.png")
    atomic_write_bytes(output / "runs.json", json.dumps([str(d) for d, _ in runs]).encode())
    return output
