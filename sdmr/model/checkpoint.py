"""Reading model weights safely (``weights_only=True``) from the files users actually have.

Three layouts load:

* our Lightning ``.ckpt`` (``state_dict`` with a ``model.`` prefix; builder arguments and the
  input spec in ``hyper_parameters``),
* an exported ``sdmr`` model file (``export_model``: the same three parts, no optimiser state,
  optionally fp16 tensors, the training focal length and a model card),
* a plain torchvision ``state_dict`` (e.g. ``maskrcnn_resnet50_fpn`` COCO weights), whose
  91-class predictor heads are re-initialised for our class count.

Every loaded state_dict is float32: weights stored at half precision (the bundled model, to fit
in the package) are widened on load, because CPU kernels for fp16 convolutions are slow or missing.
"""

from __future__ import annotations

import math
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sdmr.data.atomic import atomic_write_with
from sdmr.data.errors import DataError
from sdmr.data.input_spec import InputSpec, input_spec

EXPORT_FORMAT = "sdmr-maskrcnn"
LIGHTNING_PREFIX = "model."
#: Class-count dependent layers: the only ones allowed to differ in shape from a checkpoint.
PREDICTOR_PREFIXES = ("roi_heads.box_predictor.", "roi_heads.mask_predictor.")
# BatchNorm's step counter is absent from FrozenBatchNorm checkpoints and carries no weights.
_IGNORABLE_SUFFIXES = ("num_batches_tracked",)
#: Key of the training images' focal length (pixels) in Lightning hparams and export payloads.
TRAIN_FOCAL_KEY = "train_focal_px"


@dataclass
class ModelFile:
    """What a weights file holds: tensors plus, for our own files, how to rebuild the model."""

    path: Path
    state_dict: dict[str, torch.Tensor]
    model_kwargs: dict[str, Any] | None = None
    #: What the model reads and how it is encoded; files from before specs existed stored only a depth
    #: encoding name (``input_encoding``), read here as a depth spec. ``None`` for bare torchvision weights.
    input_spec: InputSpec | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: Focal length (pixels) of the training images, so inference can rescale a camera's frames
    #: to the object size the model learned (``input_scale="auto"``); ``None`` in older files.
    train_focal_px: float | None = None
    #: The model card an export carries (data, config, metrics, intended range); ``None`` if none.
    model_card: dict[str, Any] | None = None

    @property
    def input_encoding(self) -> str | None:
        """The spec's encoding name (a depth encoding, or ``rgb``), as files before specs stored it."""
        return None if self.input_spec is None else self.input_spec.encoding


def _stored_spec(source: Mapping[str, Any], path: Path) -> InputSpec | None:
    """``input_spec`` if the file has one, else its legacy ``input_encoding`` name as a depth spec."""
    value = source.get("input_spec", source.get("input_encoding"))
    return None if value is None else input_spec(value, path)


def _focal(value: Any, path: str | Path | None) -> float | None:
    """A stored focal length as float (None stays None); anything else is a broken file."""
    if value is None:
        return None
    try:
        focal = float(value)
    except (TypeError, ValueError):
        focal = float("nan")
    if not (math.isfinite(focal) and focal > 0):
        raise DataError(
            f"checkpoint's {TRAIN_FOCAL_KEY} is {value!r}, not a positive focal length in pixels",
            path,
            "re-export it with export_model(..., train_focal_px=<fx of the training images>)",
        )
    return focal


def _as_float32(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Widen reduced-precision floating tensors; integer buffers keep their dtype."""
    return {
        k: v.float() if v.is_floating_point() and v.dtype != torch.float32 else v for k, v in state.items()
    }


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
        text = str(err)
        # torch's wording varies by version ("Unsupported global: GLOBAL x", "unsupported GLOBAL x
        # whose module x is blocked"): match it case-insensitively and show just that line
        foreign = next((line.strip() for line in text.splitlines() if "unsupported global" in line.lower()), None)
        if foreign is None:
            detail = text.split("WeightsUnpickler error:")[-1].split("\n\nCheck the documentation")[0].strip()
            raise DataError(
                f"cannot read checkpoint ({detail})", path, "the file is corrupt or not a torch file"
            ) from err
        name = re.search(r"(?i)unsupported global:?\s*(?:GLOBAL\s+)?([\w.]+)", foreign)
        foreign = f"unsupported global {name.group(1)}" if name else foreign
        raise DataError(
            f"checkpoint holds objects other than tensors and plain data ({foreign}); "
            "it was not loaded for security reasons",
            path,
            "re-save it as a plain state_dict (torch.save(model.state_dict(), path)) from a trusted copy; "
            "arbitrary pickled objects are never loaded, as they can run code",
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
        missing = [k for k in ("state_dict", "model_kwargs") if k not in obj]
        if "input_spec" not in obj and "input_encoding" not in obj:
            missing.append("input_spec")
        if missing:
            raise DataError(
                f"exported model file lacks {', '.join(missing)}",
                path,
                "re-export it with sdmr.model.checkpoint.export_model",
            )
        return ModelFile(
            path,
            _as_float32(obj["state_dict"]),
            dict(obj["model_kwargs"]),
            _stored_spec(obj, path),
            train_focal_px=_focal(obj.get(TRAIN_FOCAL_KEY), path),
            model_card=obj.get("model_card"),
        )
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
            _stored_spec(hparams, path),
            {"global_step": obj.get("global_step"), "epoch": obj.get("epoch")},
            train_focal_px=_focal(hparams.get(TRAIN_FOCAL_KEY), path),
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


def model_payload(
    model: nn.Module | Mapping[str, torch.Tensor],
    model_kwargs: dict[str, Any],
    input_encoding: InputSpec | str | Mapping[str, Any],
    train_focal_px: float | None = None,
    model_card: dict[str, Any] | None = None,
    half: bool = False,
    path: str | Path | None = None,
) -> dict[str, Any]:
    """The dict :func:`export_model` saves (see there); ``path`` only names the file in errors."""
    state = model.state_dict() if isinstance(model, nn.Module) else model
    state = {k: v.detach().cpu() for k, v in state.items()}
    if half:
        halved = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
        overflow = [k for k, v in halved.items() if v.is_floating_point() and not torch.isfinite(v).all()]
        if overflow:
            raise DataError(
                f"weights do not fit in fp16 (non-finite after conversion: {', '.join(overflow[:3])})",
                path,
                "export in fp32 (half=False)",
            )
        state = halved
    payload: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "model_kwargs": dict(model_kwargs),
        "input_spec": input_spec(input_encoding, path).to_dict(),
        # the encoding name alone, as files before input specs stored it (older sdmr versions read this)
        "input_encoding": input_spec(input_encoding, path).encoding,
        "state_dict": state,
    }
    if train_focal_px is not None:
        payload[TRAIN_FOCAL_KEY] = _focal(train_focal_px, path)
    if model_card is not None:
        payload["model_card"] = dict(model_card)
    return payload


def export_model(
    model: nn.Module | Mapping[str, torch.Tensor],
    model_kwargs: dict[str, Any],
    input_encoding: InputSpec | str | Mapping[str, Any],
    path: str | Path,
    train_focal_px: float | None = None,
    model_card: dict[str, Any] | None = None,
    half: bool = False,
) -> None:
    """Save weights + builder arguments + input spec: all ``Segmenter`` needs, nothing more.

    ``model`` is a module or its state_dict; ``input_encoding`` an :class:`InputSpec`, its dict, or a
    depth encoding name (see :func:`sdmr.data.input_spec.input_spec`). ``train_focal_px`` (pixels) enables
    ``input_scale="auto"`` at inference; ``model_card`` is plain JSON-able data stored alongside.
    ``half`` stores floating tensors as fp16 (half the size; widened back to fp32 on load),
    refused if a weight does not fit in fp16's range, since it would load as ±inf.
    The file holds only tensors and plain data, so it opens with ``torch.load(weights_only=True)``.
    """
    payload = model_payload(model, model_kwargs, input_encoding, train_focal_px, model_card, half, path)
    atomic_write_with(path, lambda buf: torch.save(payload, buf))


def build_from_file(path: str | Path) -> tuple[nn.Module, InputSpec, ModelFile]:
    """Rebuild the exact model a checkpoint was trained as, with its weights and input spec."""
    from sdmr.model.builder import build_sdmask_rcnn

    model_file = read_model_file(path)
    if model_file.model_kwargs is None or model_file.input_spec is None:
        raise DataError(
            "checkpoint has no sdmr model settings (builder arguments / input spec)",
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
    return model, model_file.input_spec, model_file
