"""`InputSpec`: which image a model reads (depth or colour) and how it is encoded to [0, 1].

A trained model only works on inputs prepared the way it was trained, so the spec is stored in
every checkpoint and export (``input_spec``: ``{"modality", "encoding", "channels", "range"}``),
and the DataModule, ``Segmenter`` and the benchmark methods all encode through
:meth:`InputSpec.encode`. Two modalities exist:

* ``depth`` – a float metres H×W image, with one of the encodings of
  :mod:`sdmr.data.input_encoding` (``median_relative``, ``wisdom_fixed``, ``normals``, ...);
* ``color`` – the sample's uint8 H×W×3 RGB image, encoding ``rgb`` (``value / 255``), as the
  paper's colour Mask R-CNN baseline and torchvision's COCO weights expect.

The per-channel mean/std normalisation after that is the model's own (``image_mean``/``image_std``
in the builder arguments). Files written before specs existed store only a depth encoding name
(``input_encoding``); :func:`input_spec` reads such a name as a depth spec, so they keep loading.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from sdmr.data.errors import DataError
from sdmr.data.input_encoding import GEOMETRIC_ENCODINGS, INPUT_ENCODINGS, check_input_encoding
from sdmr.data.intrinsics import CameraIntrinsics

DEPTH = "depth"
COLOR = "color"
COLOR_ENCODINGS = ("rgb",)
MODALITIES = (DEPTH, COLOR)
#: Shorthand accepted wherever a depth encoding name is (``data.input_encoding=color``).
COLOR_SHORTHAND = "color"


@dataclass(frozen=True)
class InputSpec:
    """A model's input: ``modality`` (``depth`` | ``color``) and its ``encoding`` to [0, 1]."""

    modality: str = DEPTH
    encoding: str = "median_relative"

    def __post_init__(self) -> None:
        if self.modality == DEPTH:
            check_input_encoding(self.encoding)
        elif self.modality == COLOR:
            if self.encoding not in COLOR_ENCODINGS:
                raise DataError(
                    f"unknown colour encoding '{self.encoding}'", fix=f"use one of {', '.join(COLOR_ENCODINGS)}"
                )
        else:
            raise DataError(f"unknown input modality '{self.modality}'", fix=f"use one of {', '.join(MODALITIES)}")

    @property
    def channels(self) -> int:
        """Channels of the encoded image before it is made three-channel for the network."""
        return 3 if self.modality == COLOR or self.encoding in GEOMETRIC_ENCODINGS else 1

    @property
    def needs_color(self) -> bool:
        return self.modality == COLOR

    def to_dict(self) -> dict[str, Any]:
        """Plain data for checkpoints, exports and model cards."""
        return {"modality": self.modality, "encoding": self.encoding, "channels": self.channels, "range": [0.0, 1.0]}

    def describe(self) -> str:
        return f"{self.modality}/{self.encoding}"

    def encode(
        self,
        depth: np.ndarray | None,
        intrinsics: CameraIntrinsics | None = None,
        color: np.ndarray | None = None,
        where: str | None = None,
        compact: bool = False,
    ) -> torch.Tensor:
        """The network input, float32 3×H×W in [0, 1] (a one-channel depth encoding triplicated as a view).

        ``depth`` is float metres (0/NaN invalid); ``color`` uint8 H×W×3 RGB, required for a colour
        spec and checked against the depth's size when both are given. ``where`` names the image in
        errors. ``compact``: ``channels``×H×W, before triplication, so flips and DataLoader workers
        touch one channel of a depth encoding instead of three (training does that).
        """
        from sdmr.data.transforms import encode_depth_tensor, three_channels

        if self.modality == COLOR:
            return encode_color(color, None if depth is None else depth.shape, where)
        if depth is None:
            raise DataError("this model reads depth, but no depth image was given", where,
                            "pass the depth image (float metres)")
        image = encode_depth_tensor(depth, self.encoding, intrinsics)
        return image if compact else three_channels(image)

    def encode_sample(self, sample: Mapping[str, Any]) -> torch.Tensor:
        """:meth:`encode` (compact) of a `Sample`: its depth, intrinsics and, for colour, ``color``."""
        where = f"image {sample.get('name', sample.get('image_id'))}"
        return self.encode(sample.get("depth"), sample.get("intrinsics"), sample.get("color"), where, compact=True)


def encode_color(color: np.ndarray | None, shape: tuple[int, ...] | None = None, where: str | None = None) -> torch.Tensor:
    """uint8 H×W×3 RGB → float32 3×H×W in [0, 1]; ``shape`` (the depth's H×W) must match when given."""
    if color is None:
        raise DataError(
            "this model reads colour images, but the sample has none",
            where,
            "load colour with the dataset (color_ims/; sdmr-generate --color makes them) or use a depth model",
        )
    color = np.asarray(color)
    if color.dtype != np.uint8 or color.ndim != 3 or color.shape[2] != 3:
        raise DataError(f"colour image must be uint8 H×W×3 RGB, got {color.dtype} {color.shape}", where,
                        "pass the 8-bit RGB image (drop an alpha channel, convert 16-bit to 8-bit)")
    if shape is not None and color.shape[:2] != tuple(shape):
        raise DataError(f"colour image is {color.shape[0]}×{color.shape[1]} but depth is {shape[0]}×{shape[1]}", where,
                        "register the colour image to the depth image's size first")
    return torch.from_numpy(np.ascontiguousarray(color.transpose(2, 0, 1))).float().div_(255.0)


def input_spec(value: InputSpec | str | Mapping[str, Any] | None, where: Any = None) -> InputSpec:
    """Read a spec from a config value or a file: a spec, its dict, a depth encoding name (every file
    written before specs existed, and ``data.input_encoding=...``), or ``"color"`` for RGB.

    ``where`` (e.g. the checkpoint's path) names the source in errors.
    """
    if isinstance(value, InputSpec):
        return value
    if value is None:
        raise DataError("no input spec or input encoding given", where,
                        "use a checkpoint from `python -m sdmr.train` or sdmr.model.checkpoint.export_model")
    if isinstance(value, str):
        if value == COLOR_SHORTHAND:
            return InputSpec(COLOR, "rgb")
        if value not in INPUT_ENCODINGS and value not in GEOMETRIC_ENCODINGS:
            names = ", ".join([*INPUT_ENCODINGS, *GEOMETRIC_ENCODINGS, COLOR_SHORTHAND])
            raise DataError(f"unknown input encoding '{value}'", where, f"use one of {names}")
        return InputSpec(DEPTH, value)
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - {"modality", "encoding", "channels", "range"})
        if unknown or "modality" not in value:
            raise DataError(f"input spec {dict(value)!r} is not {{'modality': ..., 'encoding': ...}}", where,
                            "store InputSpec.to_dict() (re-export the model with this sdmr version)")
        default = "rgb" if value["modality"] == COLOR else "median_relative"
        try:
            return InputSpec(str(value["modality"]), str(value.get("encoding", default)))
        except DataError as err:
            raise DataError(err.problem, where, err.fix) from None
    raise DataError(f"input spec must be a name or a dict, got {type(value).__name__}", where,
                    "e.g. 'median_relative', 'color', or {'modality': 'depth', 'encoding': 'median_relative'}")
