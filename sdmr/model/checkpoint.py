"""Reading model weights safely (``weights_only=True``) from the files users actually have.

Three layouts load:

* our Lightning ``.ckpt`` (``state_dict`` with a ``model.`` prefix; builder arguments and the
  input encoding in ``hyper_parameters``),
* an exported ``sdmr`` model file (``export_model``: the same three parts, no optimiser state),
* a plain torchvision ``state_dict`` (e.g. ``maskrcnn_resnet50_fpn`` COCO weights), whose
  91-class predictor heads are re-initialised for our class count.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sdmr.data.atomic import atomic_write_with
from sdmr.data.errors import DataError

EXPORT_FORMAT = "sdmr-maskrcnn"
LIGHTNING_PREFIX = "model."
#: Class-count dependent layers: the only ones allowed to differ in shape from a checkpoint.
PREDICTOR_PREFIXES = ("roi_heads.box_predictor.", "roi_heads.mask_predictor.")
# BatchNorm's step counter is absent from FrozenBatchNorm checkpoints and carries no weights.
_IGNORABLE_SUFFIXES = ("num_batches_tracked",)


@dataclass
class ModelFile:
    """What a weights file holds: tensors plus, for our own files, how to rebuild the model."""

    path: Path
    state_dict: dict[str, torch.Tensor]
    model_kwargs: dict[str, Any] | None = None
    input_encoding: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _torch_load(path: Path) -> Any:
    if not path.is_file():
        raise DataError(
            "checkpoint file not found",
            path,
            "pass the path of a .ckpt from `python -m sdmr.train` (see its run dir's checkpoints/) "
            "or an exported .pt",
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        detail = str(err).split("WeightsUnpickler error:")[-1].split("\n\nCheck the documentation")[0].strip()
        if "Unsupported global" not in detail:
            raise DataError(
                f"cannot read checkpoint ({detail})", path, "the file is corrupt or not a torch file"
            ) from err
        raise DataError(
            f"checkpoint holds objects other than tensors and plain data ({detail})",
            path,
            "re-save it as a plain state_dict (torch.save(model.state_dict(), path)); "
            "arbitrary pickles are not loaded for security",
        ) from err
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise DataError(
            f"cannot read checkpoint ({err})", path, "the file is corrupt or not a torch file"
        ) from err


def read_model_file(path: str | Path) -> ModelFile:
    """Load any supported weights file (see the module docstring) without building a model."""
    path = Path(path)
    obj = _torch_load(path)
    if not isinstance(obj, dict):
        raise DataError(
            f"checkpoint is a {type(obj).__name__}, not a dict of tensors",
            path,
            "save a state_dict (torch.save(model.state_dict(), path)) or use export_model",
        )
    if obj.get("format") == EXPORT_FORMAT:
        missing = [k for k in ("state_dict", "model_kwargs", "input_encoding") if k not in obj]
        if missing:
            raise DataError(
                f"exported model file lacks {', '.join(missing)}",
                path,
                "re-export it with sdmr.model.checkpoint.export_model",
            )
        return ModelFile(path, obj["state_dict"], dict(obj["model_kwargs"]), obj["input_encoding"])
    if "state_dict" in obj and isinstance(obj["state_dict"], dict):
        hparams = obj.get("hyper_parameters") or {}
        state = {
            k[len(LIGHTNING_PREFIX) :]: v
            for k, v in obj["state_dict"].items()
            if k.startswith(LIGHTNING_PREFIX)
        }
        return ModelFile(
            path,
            state,
            hparams.get("model_kwargs"),
            hparams.get("input_encoding"),
            {"global_step": obj.get("global_step"), "epoch": obj.get("epoch")},
        )
    if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return ModelFile(path, obj)
    raise DataError(
        f"unrecognised checkpoint layout (top-level keys: {sorted(obj)[:8]})",
        path,
        "use a Lightning .ckpt from sdmr.train, a file from sdmr.model.checkpoint.export_model, or a "
        "torchvision state_dict",
    )


def load_weights(
    model: nn.Module, path: str | Path, state_dict: dict[str, torch.Tensor] | None = None
) -> list[str]:
    """Copy weights from ``path`` into ``model``; returns the predictor keys left freshly initialised.

    Only the class-count dependent predictor layers may differ in shape (a COCO checkpoint
    has 91 classes, ours 2); any other missing, unexpected or mis-shaped tensor means the
    checkpoint belongs to another architecture, and that is an error naming the file.
    """
    path = Path(path)
    source = state_dict if state_dict is not None else read_model_file(path).state_dict
    target = model.state_dict()
    reinitialised = [
        k
        for k, v in source.items()
        if k in target and k.startswith(PREDICTOR_PREFIXES) and v.shape != target[k].shape
    ]
    source = {k: v for k, v in source.items() if k not in reinitialised}
    mismatched = [
        f"{k}: file {tuple(v.shape)} vs model {tuple(target[k].shape)}"
        for k, v in source.items()
        if k in target and v.shape != target[k].shape
    ]
    missing = [
        k
        for k in target
        if k not in source and k not in reinitialised and not k.endswith(_IGNORABLE_SUFFIXES)
    ]
    unexpected = [k for k in source if k not in target and not k.endswith(_IGNORABLE_SUFFIXES)]
    if mismatched or missing or unexpected:
        details = "; ".join(
            f"{name} ({len(keys)}): {', '.join(keys[:3])}{' …' if len(keys) > 3 else ''}"
            for name, keys in (
                ("shape mismatch", mismatched),
                ("missing", missing),
                ("unexpected", unexpected),
            )
            if keys
        )
        raise DataError(
            f"checkpoint does not fit this model architecture — {details}",
            path,
            "build the model with the checkpoint's settings (backbone_depth, norm, anchors; "
            "e.g. backbone_depth=50 norm=frozen_batch for torchvision COCO weights)",
        )
    model.load_state_dict({k: v for k, v in source.items() if k in target}, strict=False)
    return reinitialised


def export_model(
    model: nn.Module, model_kwargs: dict[str, Any], input_encoding: str, path: str | Path
) -> None:
    """Save weights + builder arguments + input encoding: all ``Segmenter`` needs, nothing more."""
    payload = {
        "format": EXPORT_FORMAT,
        "model_kwargs": dict(model_kwargs),
        "input_encoding": input_encoding,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    atomic_write_with(path, lambda buf: torch.save(payload, buf))


def build_from_file(path: str | Path) -> tuple[nn.Module, str, ModelFile]:
    """Rebuild the exact model a checkpoint was trained as, with its weights and input encoding."""
    from sdmr.model.builder import build_sdmask_rcnn

    model_file = read_model_file(path)
    if model_file.model_kwargs is None or model_file.input_encoding is None:
        raise DataError(
            "checkpoint has no sdmr model settings (builder arguments / input encoding)",
            model_file.path,
            "use a .ckpt from `python -m sdmr.train` or an export_model file; for a bare torchvision "
            "state_dict build the model with build_sdmask_rcnn(...) and call load_weights(model, path)",
        )
    try:
        model = build_sdmask_rcnn(**model_file.model_kwargs)
    except TypeError as err:
        raise DataError(
            f"checkpoint's model settings do not match this sdmr version ({err})",
            model_file.path,
            "load it with the sdmr version that trained it",
        ) from err
    load_weights(model, model_file.path, model_file.state_dict)
    return model, model_file.input_encoding, model_file
