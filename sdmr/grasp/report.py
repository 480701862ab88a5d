"""What a grasping run shows a person: the success table (rate, 95 % CI, failure split, s/trial),
a per-trial CSV, and a PNG of example trials (colour with the target outlined; per method the
depth, the chosen mask, the grasp point and the outcome). Written atomically, tables sorted by
trial, so they are the same bytes whatever order the workers finished in."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from sdmr.bench.report import _csv_text, decode_records, markdown_table
from sdmr.data.atomic import atomic_write_png, atomic_write_text
from sdmr.grasp.oracle import ORACLE, ORACLE_LABEL
from sdmr.grasp.outcomes import FAILURES
from sdmr.grasp.world import TrialWorld
from sdmr.viz import caption, depth_to_grey, grid, label_outlines, overlay

PAPER_REAL_ROBOT = {"sdmr": 0.74, "euclidean_clustering": 0.56, "ft_maskrcnn_color": 0.78}  # 50 trials, ABB YuMi
TRIAL_COLUMNS = ("trial", "target", "target_object_id", "objects", "masks", "chosen", "match_score",
                 "target_iou", "contact", "lifted", "outcome", "detail")


def label(name: str) -> str:
    return ORACLE_LABEL if name == ORACLE else name


def table_rows(summaries: dict[str, dict]) -> list[list[object]]:
    rows = []
    for name, s in summaries.items():
        low, high = s["ci95"]
        rate = f"{s['success_rate']:.0%} [{low:.0%}, {high:.0%}]"
        paper = PAPER_REAL_ROBOT.get(name)
        rows.append([label(name), s["trials"], rate, *(s["outcomes"][f] for f in FAILURES),
                     f"{s['seconds_per_trial']:.2f}", "" if paper is None else f"{paper:.0%}"])
    return rows


TABLE_HEADER = ["method", "trials", "success [95% CI]", *(f.replace("_", " ") for f in FAILURES), "s/trial",
                "paper (real YuMi)"]


def write_tables(out: Path, document: dict, records: dict[str, list[dict]]) -> None:
    """``results.json``, ``table.md``, ``table.csv`` and ``trials.csv`` of a run."""
    rows = table_rows(document["methods"])
    atomic_write_text(out / "table.md", markdown_table(TABLE_HEADER, rows))
    atomic_write_text(out / "table.csv", _csv_text(TABLE_HEADER, rows))
    trial_rows = [[name, *(json.dumps(r[c]) if isinstance(r[c], list) else r[c] for c in TRIAL_COLUMNS)]
                  for name, recs in records.items() for r in recs]
    atomic_write_text(out / "trials.csv", _csv_text(["method", *TRIAL_COLUMNS], trial_rows))
    atomic_write_text(out / "results.json", json.dumps(document, indent=2, sort_keys=True))


def _mark(rgb: np.ndarray, pixel: tuple[int, int], size: int = 4) -> np.ndarray:
    """A white-edged red cross at ``pixel``: the grasp point."""
    out = rgb.copy()
    r, c = pixel
    h, w = out.shape[:2]
    for width, colour in ((1, (255, 255, 255)), (0, (230, 20, 20))):
        out[max(r - width, 0) : r + width + 1, max(c - size, 0) : c + size + 1] = colour
        out[max(r - size, 0) : r + size + 1, max(c - width, 0) : c + width + 1] = colour
    return out[:h, :w]


def example_tiles(world: TrialWorld, trials: list[int], records: dict[str, dict[int, dict]]) -> list[np.ndarray]:
    """Per trial: the colour image (target outlined), then each method's attempt over the depth."""
    tiles = []
    for k in trials:
        trial = world.trial(k)
        colour = trial.sample["color"].copy()
        colour[label_outlines(trial.target_mask().astype(np.int64))] = (255, 255, 255)
        tiles.append(caption(colour, [f"trial {k}: target = object {trial.target} (outlined)"]))
        grey = depth_to_grey(trial.sample["depth"])
        for name, by_trial in records.items():
            record = by_trial.get(k)
            if record is None:
                tiles.append(caption(np.repeat(grey[..., None], 3, axis=2), [label(name), "not run"]))
                continue
            shape = grey.shape
            mask = (decode_records([{"segmentation": record["chosen_rle"]}], shape)[0]
                    if record["chosen_rle"] else np.zeros(shape, dtype=bool))
            picture = overlay(grey, mask.astype(np.uint16))
            if record["grasp"]:
                picture = _mark(picture, tuple(record["grasp"]["pixel"]))
            tiles.append(caption(picture, [label(name), f"{record['outcome']} ({record['masks']} masks)"]))
    return tiles


def write_examples(path: Path, world: TrialWorld, trials: list[int], records: dict[str, dict[int, dict]]) -> None:
    if trials:
        atomic_write_png(path, grid(example_tiles(world, trials, records), columns=1 + len(records)))
