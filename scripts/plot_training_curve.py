#!/usr/bin/env python
"""Plot a run's training loss (smoothed) and validation AP from its CSV log (``logger=csv``).

python scripts/plot_training_curve.py runs/cpu_small_500 --out docs/train_loss.png
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from sdmr.data.atomic import atomic_write_with
from sdmr.data.errors import DataError


def read_log(run: Path) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    path = run / "csv" / "metrics.csv"
    if not path.is_file():
        raise DataError(
            "no CSV log in the run dir", path, "train with logger=csv (python -m sdmr.train logger=csv ...)"
        )
    loss, ap = [], []
    with open(path) as handle:
        for row in csv.DictReader(handle):
            if row.get("train/loss"):
                loss.append((int(row["step"]), float(row["train/loss"])))
            if row.get("val/AP"):
                ap.append((int(row["step"]), float(row["val/AP"])))
    if not loss:
        raise DataError(
            "the CSV log has no train/loss rows", path, "train for more than log_every_n_steps steps"
        )
    return loss, ap


def smooth(values: list[float], window: int) -> list[float]:
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "runs", type=Path, nargs="+", help="run dirs of python -m sdmr.train (hold csv/metrics.csv)"
    )
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    parser.add_argument("--window", type=int, default=10, help="moving-average window (logged points)")
    args = parser.parse_args(argv)
    loss, ap = [], []
    try:
        for run in args.runs:
            run_loss, run_ap = read_log(run)
            loss += run_loss
            ap += run_ap
    except DataError as err:
        print(f"error: {err}")
        return 2
    loss, ap = sorted(dict(loss).items()), sorted(dict(ap).items())
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    steps, values = zip(*loss, strict=True)
    ax.plot(steps, values, color="tab:blue", alpha=0.25, lw=0.8)
    ax.plot(steps, smooth(list(values), args.window), color="tab:blue", label="train loss (sum)")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if ap:
        twin = ax.twinx()
        twin.plot(*zip(*ap, strict=True), "o-", color="tab:red", label="val mask AP")
        twin.set_ylabel("val mask AP", color="tab:red")
        twin.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    atomic_write_with(args.out, lambda buf: fig.savefig(buf, format="png", dpi=120))
    plt.close(fig)
    print(f"wrote {args.out} ({len(loss)} loss points, {len(ap)} validations)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
