"""`Sample`: what a dataset yields and a method receives."""

from __future__ import annotations

from typing import TypedDict

import numpy as np

from sdmr.data.instances import Instances
from sdmr.data.intrinsics import CameraIntrinsics


class _SampleRequired(TypedDict):
    depth: np.ndarray  # float32 H×W metres, 0/NaN = invalid
    instances: Instances | None  # None for unlabelled data
    intrinsics: CameraIntrinsics | None
    image_id: int


class Sample(_SampleRequired, total=False):
    color: np.ndarray  # uint8 H×W×3 RGB
    bin_mask: np.ndarray  # bool H×W, True = bin/background pixels to ignore
    name: str  # human-readable id, e.g. the file stem
