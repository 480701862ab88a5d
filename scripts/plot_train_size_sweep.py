#!/usr/bin/env python
"""Collect a dataset-size sweep's runs and plot validation AP/AR against training-set size (paper Fig. 6).

Every ``python -m sdmr.train`` run writes ``metrics.json`` in its run dir; this script finds
them under the given folders (a Hydra ``multirun/`` dir, W&B-agent run dirs, ...), averages runs
of equal size (e.g. several seeds) and writes ``train_size_sweep.csv`` and ``train_size_sweep.png``.

    python scripts/plot_train_size_sweep.py multirun/paper/2026-01-01_00-00-00 --out docs/
"""

from __future__ import annotations

import argparse
import csv
import io
from collections import defaultdict
from pathlib import Path

from sdmr.data.atomic import atomic_write_text, atomic_write_with
from sdmr.data.errors import DataError
from sdmr.data.safe_load import load_json_object

#: Paper Fig. 6 (WISDOM-Real high-res test): size → (AP, AR).
PAPER_FIG6 = {4000: (0.460, 0.593), 8000: (0.484, 0.615), 20000: (0.486, 0.649), 40000: (0.516, 0.647)}
METRICS = ("val/AP", "val/AR")


def collect(folders: list[Path]) -> dict[int, list[dict]]:
    """metrics.json files by number of training images; runs without validation metrics are skipped."""
    runs: dict[int, list[dict]] = defaultdict(list)
    for folder in folders:
        if not folder.exists():
            raise DataError("run folder not found", folder, "pass the sweep's output folder(s)")
        for path in sorted(folder.rglob("metrics.json")):
            metrics = load_json_object(
                path, "metrics.json", "re-run the training run", "delete the broken run or re-run it"
            )
            size = metrics.get("train_images") or metrics.get("train_size")
            if size is None or any(m not in metrics for m in METRICS):
                print(f"skipping {path}: no training-set size or no validation metrics")
                continue
            runs[int(size)].append({"path": str(path.parent), **{m: float(metrics[m]) for m in METRICS}})
    if not runs:
        raise DataError(
            "no metrics.json with val/AP and val/AR found",
            folders[0] if folders else None,
            "point the script at the run dirs of finished python -m sdmr.train runs",
        )
    return dict(sorted(runs.items()))


def summary_rows(runs: dict[int, list[dict]]) -> list[dict]:
    rows = []
    for size, items in runs.items():
        row = {"train_images": size, "runs": len(items)}
        for m in METRICS:
            row[m.split("/")[1]] = sum(r[m] for r in items) / len(items)
        paper = PAPER_FIG6.get(size)
        row["paper_AP"], row["paper_AR"] = paper if paper else ("", "")
        rows.append(row)
    return rows


def write_csv(rows: list[dict], path: Path) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def write_plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    sizes = [r["train_images"] for r in rows]
    for key, colour in (("AP", "tab:blue"), ("AR", "tab:orange")):
        ax.plot(sizes, [r[key] for r in rows], "o-", color=colour, label=f"ours {key}")
        ax.plot(
            list(PAPER_FIG6),
            [v[key == "AR"] for v in PAPER_FIG6.values()],
            "x--",
            color=colour,
            alpha=0.6,
            label=f"paper {key}",
        )
    ax.set_xscale("log")
    ax.set_xlabel("synthetic training images")
    ax.set_ylabel("COCO mask AP / AR")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    atomic_write_with(path, lambda buf: fig.savefig(buf, format="png", dpi=120))
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="folders holding the runs' metrics.json")
    parser.add_argument("--out", type=Path, default=Path("."), help="where to write the CSV and PNG")
    args = parser.parse_args(argv)
    try:
        rows = summary_rows(collect(args.folders))
    except DataError as err:
        print(f"error: {err}")
        return 2
    write_csv(rows, args.out / "train_size_sweep.csv")
    write_plot(rows, args.out / "train_size_sweep.png")
    for row in rows:
        print(
            f"{row['train_images']:>7} images  AP {row['AP']:.3f}  AR {row['AR']:.3f}  ({row['runs']} run(s))"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
