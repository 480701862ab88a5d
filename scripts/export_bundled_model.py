"""Turn a training checkpoint into the model that ships with sdmr (``sdmr/weights/``).

    python scripts/export_bundled_model.py runs/sim2real/checkpoints/last.ckpt --card-json card.json

Writes ``sdmr_default_fp16.pt`` (fp16, weights-only), ``model_card.json``, ``MODEL_CARD.md`` and,
last, ``manifest.json`` with the weights' sha256 — each file atomically (temp file, rename) —
then verifies the result by loading it. The card JSON must give ``data_command``,
``train_command``, ``config``, ``steps``, ``wall_time``, ``hardware``, ``metrics`` (``{data:
{metric: value}}``) and ``intended`` (e.g. ``{"distance_m": [0.6, 1.6], "cameras": "..."}``);
optional ``name``, ``summary``, ``limitations``. The exporter adds the model settings, the
training focal length, the source checkpoint and the checksum. Commit the four files together.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sdmr.data.errors import DataError
from sdmr.data.safe_load import load_json_object
from sdmr.model.bundled import CARD_MD_FILE, bundled_weights_dir, export_bundled_model, sha256_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, help=".ckpt from python -m sdmr.train (or an export_model file)")
    parser.add_argument("--card-json", required=True, type=Path, help="the model card (see above)")
    parser.add_argument(
        "--out", type=Path, default=None, help="folder to write (default: the installed sdmr/weights/)"
    )
    parser.add_argument(
        "--train-focal-px", type=float, default=None,
        help="focal length (px) of the training images, when the checkpoint does not record it",
    )
    args = parser.parse_args(argv)
    try:
        card = load_json_object(args.card_json, "model card", "pass --card-json CARD.json", "fix its JSON")
        weights = export_bundled_model(args.checkpoint, card, args.out, args.train_focal_px, args.card_json)
    except DataError as err:
        print(f"export_bundled_model: error: {err}", file=sys.stderr)
        return 2
    folder = weights.parent
    print(f"wrote {weights} ({weights.stat().st_size / 1e6:.1f} MB, sha256 {sha256_file(weights)[:16]}…)")
    print(f"card: {folder / CARD_MD_FILE}")
    if folder.resolve() == bundled_weights_dir().resolve():
        print(f"commit: git add {folder}/*.pt {folder}/*.json {folder}/{CARD_MD_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
