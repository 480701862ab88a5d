"""The model that ships inside the package (``sdmr/weights/``): find it, verify it, make it.

Why a manifest with a sha256: the weights travel through wheels, git checkouts and copies; a
truncated or swapped file would otherwise load as a silently different model. Every load
hashes the file and compares (≈0.2 s for 77 MB), so a damaged install fails loudly, naming
the file and the fix.

Why fp16: the ResNet-35 FPN Mask R-CNN has ~38 M parameters, 154 MB in fp32; in fp16 it fits the
80 MB package budget. Loading widens it back to fp32 (``read_model_file``), so CPU inference
runs at full precision; the rounding changes scores by ~1e-3 (tested).

``export_bundled_model`` writes the four files of ``sdmr.weights`` (see its docstring there),
each atomically, the manifest last: a crash half-way leaves the old manifest, whose checksum
then fails on the new weights instead of loading a mismatched pair.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from sdmr.data.atomic import atomic_write_bytes, atomic_write_text
from sdmr.data.errors import DataError
from sdmr.data.layout import resolve_inside
from sdmr.data.safe_load import load_json_object
from sdmr.model.checkpoint import build_from_file, model_payload

WEIGHTS_DIR_ENV = "SDMR_WEIGHTS_DIR"
WEIGHTS_FILE = "sdmr_default_fp16.pt"
MANIFEST_FILE = "manifest.json"
CARD_JSON_FILE = "model_card.json"
CARD_MD_FILE = "MODEL_CARD.md"
MANIFEST_FORMAT = "sdmr-bundled-model"
#: Package budget for the weights file (issue 9: ≤ 80 MB).
MAX_WEIGHTS_BYTES = 80_000_000
#: What a model card must say (issue 9, §2); the exporter adds the facts it can read itself.
REQUIRED_CARD_KEYS = ("data_command", "train_command", "config", "steps", "wall_time", "hardware",
                      "metrics", "intended")

NO_BUNDLED_MODEL_FIX = (
    "pass a trained model: `sdmr-segment INPUT... --checkpoint PATH`, `Segmenter(PATH)` in Python, or "
    "`sdmr-bench --method sdmr --param sdmr.checkpoint=PATH` (a .ckpt from `python -m sdmr.train`, "
    "docs/training.md); or install an sdmr release that bundles weights"
)


def bundled_weights_dir() -> Path:
    """``$SDMR_WEIGHTS_DIR`` when set (tests, a model of your own), else the installed ``sdmr/weights``."""
    override = os.environ.get(WEIGHTS_DIR_ENV)
    if override:
        return Path(override)
    return Path(str(resources.files("sdmr.weights")))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def bundled_model_path(directory: str | Path | None = None) -> Path:
    """The verified weights file of the bundle in ``directory`` (default: :func:`bundled_weights_dir`).

    Raises ``DataError`` when no bundle is installed, when the manifest is broken, or when the
    weights' sha256 differs from the manifest's.
    """
    folder = Path(directory) if directory is not None else bundled_weights_dir()
    manifest_path = folder / MANIFEST_FILE
    if not manifest_path.is_file():
        raise DataError("no bundled model is installed (no weights manifest)", manifest_path, NO_BUNDLED_MODEL_FIX)
    regenerate = "re-run scripts/export_bundled_model.py CKPT --card-json CARD, or reinstall sdmr"
    manifest = load_json_object(manifest_path, "bundled model manifest", NO_BUNDLED_MODEL_FIX, regenerate)
    if manifest.get("format") != MANIFEST_FORMAT or not isinstance(manifest.get("sha256"), str):
        raise DataError(
            f"not a {MANIFEST_FORMAT} manifest (format {manifest.get('format')!r}, sha256 missing?)",
            manifest_path,
            regenerate,
        )
    weights = resolve_inside(folder, manifest.get("file", WEIGHTS_FILE), manifest_path, "weights file")
    if not weights.is_file():
        raise DataError("bundled weights file named by manifest.json is missing", weights, regenerate)
    actual = sha256_file(weights)
    if actual != manifest["sha256"]:
        raise DataError(
            f"bundled weights fail their checksum: sha256 {actual[:16]}… but {MANIFEST_FILE} says "
            f"{manifest['sha256'][:16]}… (corrupt, truncated, or replaced without re-exporting)",
            weights,
            regenerate,
        )
    return weights


def check_model_card(card: dict[str, Any], source: str | Path | None = None) -> dict[str, Any]:
    """``card`` if it says everything a user needs to trust the model (REQUIRED_CARD_KEYS)."""
    missing = [k for k in REQUIRED_CARD_KEYS if k not in card]
    if missing:
        raise DataError(
            f"model card lacks {', '.join(missing)}",
            source,
            f"add them to the card JSON (keys: {', '.join(REQUIRED_CARD_KEYS)}; README 'Bundled model')",
        )
    intended = card["intended"]
    distance = intended.get("distance_m") if isinstance(intended, dict) else None
    if distance is not None and not (
        isinstance(distance, list)
        and len(distance) == 2
        and all(isinstance(d, (int, float)) for d in distance)
        and 0 < distance[0] < distance[1]
    ):
        raise DataError(
            f"model card intended.distance_m must be [near, far] metres, got {distance!r}", source,
            'write e.g. "distance_m": [0.6, 1.6]',
        )
    return card


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, (dict, list)):
        return f"`{json.dumps(value)}`"
    return str(value).replace("|", "\\|").replace("\n", " ")


def render_model_card(card: dict[str, Any]) -> str:
    """The Markdown ``MODEL_CARD.md``: the JSON card laid out for people (metrics as a table)."""
    lines = [f"# {card.get('name', 'sdmr bundled model')}", ""]
    if card.get("summary"):
        lines += [str(card["summary"]), ""]
    lines += ["## How it was made", "", "| | |", "|---|---|"]
    for key in ("data_command", "train_command", "steps", "wall_time", "hardware", "source_checkpoint"):
        if key in card:
            value = f"`{card[key]}`" if key.endswith("_command") else _cell(card[key])
            lines.append(f"| {key.replace('_', ' ')} | {value} |")
    metrics = card.get("metrics") or {}
    if metrics:
        names = sorted({m for row in metrics.values() if isinstance(row, dict) for m in row})
        lines += ["", "## Metrics", "", f"| data | {' | '.join(names)} |", "|---" * (len(names) + 1) + "|"]
        for data, row in metrics.items():
            row = row if isinstance(row, dict) else {}
            lines.append(f"| {data} | {' | '.join(_cell(row.get(n, '')) for n in names)} |")
    intended = card.get("intended")
    if intended:
        lines += ["", "## Intended use", ""]
        items = intended.items() if isinstance(intended, dict) else [("", intended)]
        lines += [f"- {k.replace('_', ' ')}: {_cell(v)}" if k else f"- {_cell(v)}" for k, v in items]
    limitations = card.get("limitations")
    if limitations:  # a list of points, or one paragraph (a string is one point, not one per character)
        points = [limitations] if isinstance(limitations, str) else list(limitations)
        lines += ["", "## Limitations", "", *[f"- {x}" for x in points]]
    model = card.get("model") or {}
    weights = card.get("weights") or {}
    lines += ["", "## Model and weights file", "", "| | |", "|---|---|"]
    for key, value in [*model.items(), *weights.items()]:
        lines.append(f"| {key.replace('_', ' ')} | {_cell(value)} |")
    lines += ["", "## Config", "", "```json", json.dumps(card.get("config"), indent=2), "```", ""]
    return "\n".join(lines)


def export_bundled_model(
    checkpoint: str | Path,
    card: dict[str, Any],
    out_dir: str | Path | None = None,
    train_focal_px: float | None = None,
    card_source: str | Path | None = None,
) -> Path:
    """Turn a training checkpoint into the bundle (weights, manifest, model card); returns the weights path.

    The checkpoint is rebuilt first (so a file that does not fit its own architecture is refused
    before anything is written). ``train_focal_px`` overrides the checkpoint's; without either the
    export is refused, because the bundled model must be able to pick its input scale.
    ``card_source`` names the card's file in errors.
    """
    folder = Path(out_dir) if out_dir is not None else bundled_weights_dir()
    model, spec, model_file = build_from_file(checkpoint)
    focal = train_focal_px if train_focal_px is not None else model_file.train_focal_px
    if focal is None:
        raise DataError(
            "checkpoint does not record the training images' focal length (train_focal_px)",
            model_file.path,
            "pass --train-focal-px F (fx in pixels of the training images, e.g. about 274 for 256-px-wide "
            "sdmr-generate images), or train with an sdmr version that stores it",
        )
    card = dict(check_model_card(dict(card), card_source))
    card.setdefault("name", "sdmr bundled model")
    steps = model_file.extra.get("global_step")
    card["source_checkpoint"] = {"file": model_file.path.name, "global_step": steps}
    card["model"] = {
        "input_encoding": spec.encoding,
        "input_spec": spec.to_dict(),
        "train_focal_px": float(focal),
        "model_kwargs": model_file.model_kwargs,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    payload = model_payload(model, model_file.model_kwargs or {}, spec, focal, card, half=True,
                            path=folder / WEIGHTS_FILE)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    if len(data) > MAX_WEIGHTS_BYTES:
        raise DataError(
            f"fp16 weights are {len(data) / 1e6:.1f} MB, over the {MAX_WEIGHTS_BYTES / 1e6:.0f} MB package budget",
            model_file.path,
            "ship a smaller architecture (backbone_depth=35) or raise MAX_WEIGHTS_BYTES knowingly",
        )
    sha = hashlib.sha256(data).hexdigest()
    card["weights"] = {"file": WEIGHTS_FILE, "dtype": "float16", "bytes": len(data), "sha256": sha}
    manifest = {
        "format": MANIFEST_FORMAT,
        "version": 1,
        "file": WEIGHTS_FILE,
        "bytes": len(data),
        "sha256": sha,
        "exported": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    atomic_write_bytes(folder / WEIGHTS_FILE, data)
    atomic_write_text(folder / CARD_JSON_FILE, json.dumps(card, indent=2) + "\n")
    atomic_write_text(folder / CARD_MD_FILE, render_model_card(card))
    atomic_write_text(folder / MANIFEST_FILE, json.dumps(manifest, indent=2) + "\n")  # last: marks it complete
    return bundled_model_path(folder)
