"""Pinhole camera intrinsics, compatible with the original project's ``.intr`` JSON files."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from sdmr.data.atomic import atomic_write_text
from sdmr.data.depth_io import valid_mask
from sdmr.data.errors import DataError
from sdmr.data.safe_load import load_json_object


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole intrinsics in pixels. ``width``/``height`` are the image size they apply to."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    frame: str = "camera"

    def __post_init__(self) -> None:
        for name in ("fx", "fy"):
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise DataError(f"CameraIntrinsics.{name} must be a positive focal length, got {value}")
        if self.width <= 0 or self.height <= 0:
            raise DataError(f"CameraIntrinsics size must be positive, got {self.width}×{self.height}")

    @property
    def K(self) -> np.ndarray:
        """3×3 camera matrix."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def scaled(self, factor: float) -> CameraIntrinsics:
        """Intrinsics of the same camera after resizing the image by ``factor``."""
        return CameraIntrinsics(
            fx=self.fx * factor,
            fy=self.fy * factor,
            cx=(self.cx + 0.5) * factor - 0.5,
            cy=(self.cy + 0.5) * factor - 0.5,
            width=round(self.width * factor),
            height=round(self.height * factor),
            frame=self.frame,
        )

    # ------------------------------------------------------------------ .intr
    def to_intr_dict(self) -> dict:
        """The autolab_core ``CameraIntrinsics.save`` layout (``_fx``, ``_cx``, ..., ``_K`` = 0)."""
        return {
            "_frame": self.frame,
            "_fx": float(self.fx),
            "_fy": float(self.fy),
            "_cx": float(self.cx),
            "_cy": float(self.cy),
            "_skew": 0.0,
            "_height": int(self.height),
            "_width": int(self.width),
            "_K": 0,
        }

    @classmethod
    def from_dict(cls, data: dict, path: str | Path | None = None) -> CameraIntrinsics:
        """Read the ``.intr`` layout, or plain keys ``fx, fy, cx, cy, width, height``."""
        fix = "write fx, fy, cx, cy, width, height (or the original _fx/_fy/... .intr keys)"

        def get(*names: str):
            for name in names:
                if name in data:
                    return data[name]
            raise DataError(f"camera intrinsics lack '{names[0]}' (keys found: {sorted(data)})", path, fix)

        try:
            return cls(
                fx=float(get("_fx", "fx")),
                fy=float(get("_fy", "fy")),
                cx=float(get("_cx", "cx", "x_offset")),
                cy=float(get("_cy", "cy", "y_offset")),
                width=int(get("_width", "width", "img_width")),
                height=int(get("_height", "height", "img_height")),
                frame=str(data.get("_frame", data.get("frame", "camera"))),
            )
        except DataError as err:
            if err.path is not None or path is None:
                raise
            raise DataError(err.problem, path, err.fix or fix) from err  # a bad value, attributed to its file
        except (TypeError, ValueError) as err:
            raise DataError(f"camera intrinsics hold a non-numeric value ({err})", path, fix) from err

    @classmethod
    def load(cls, path: str | Path) -> CameraIntrinsics:
        path = Path(path)
        data = load_json_object(
            path, "camera intrinsics file", "pass the path of a .intr/.json file", "rewrite it with CameraIntrinsics.save"
        )
        return cls.from_dict(data, path)

    def save(self, path: str | Path) -> None:
        """Write the original ``.intr`` JSON atomically."""
        atomic_write_text(path, json.dumps(self.to_intr_dict()))

    def as_dict(self) -> dict:
        return asdict(self)


def nominal_intrinsics(height: int, width: int) -> CameraIntrinsics:
    """A centred camera with focal length = image width (about 53° horizontal field of view), assumed
    wherever a sample has no intrinsics (point-cloud baselines, geometric input encodings)."""
    return CameraIntrinsics(float(width), float(width), (width - 1) / 2, (height - 1) / 2, width, height)


def back_project(depth: np.ndarray, intrinsics: CameraIntrinsics) -> np.ndarray:
    """``H×W×3`` camera-frame points (metres) of a depth image; invalid pixels give z = 0."""
    h, w = depth.shape
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    z = np.where(valid_mask(depth), depth, 0.0).astype(np.float64)
    return np.stack([(u - intrinsics.cx) / intrinsics.fx * z, (v - intrinsics.cy) / intrinsics.fy * z, z], -1)
