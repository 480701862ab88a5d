"""Sample → torchvision detection input: encode depth, flip, pad, build targets.

Datasets do not normalise: the model's own transform does (DESIGN.md), so the same
``depth_to_model_input`` serves training, validation and inference.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from sdmr.data.depth_io import validate_depth
from sdmr.data.errors import DataError
from sdmr.data.input_encoding import encode_model_input
from sdmr.data.instances import Instances
from sdmr.data.intrinsics import CameraIntrinsics
from sdmr.data.sample import Sample

if TYPE_CHECKING:
    from sdmr.data.input_spec import InputSpec


def encode_depth_tensor(
    depth: np.ndarray, input_encoding: str, intrinsics: CameraIntrinsics | None = None
) -> torch.Tensor:
    """Float metres H×W → float32 tensor C×H×W in [0, 1] (C = 1, or 3 for the geometric encodings)."""
    return torch.from_numpy(np.ascontiguousarray(encode_model_input(validate_depth(depth), input_encoding, intrinsics)))


def three_channels(image: torch.Tensor) -> torch.Tensor:
    """1×H×W → 3×H×W as a view: the channels share one storage, so workers ship a third of the bytes.
    A 3-channel (geometric) encoding passes through unchanged."""
    return image if image.shape[0] == 3 else image.expand(3, -1, -1)


def depth_to_model_input(
    depth: np.ndarray, input_encoding: str, intrinsics: CameraIntrinsics | None = None
) -> torch.Tensor:
    """Float metres H×W → float32 tensor 3×H×W in [0, 1] (a 1-channel encoding triplicated, a view)."""
    return three_channels(encode_depth_tensor(depth, input_encoding, intrinsics))


def nearest_indices(size: int, new_size: int) -> np.ndarray:
    """Source index of each output pixel for a nearest-neighbour resize (pixel centres aligned)."""
    return np.minimum(((np.arange(new_size) + 0.5) * size / new_size).astype(np.int64), size - 1)


def rescale_sample(sample: Sample, factor: float) -> Sample:
    """Resize depth and masks by ``factor`` (nearest neighbour: no invented depths, exact labels)
    and scale the intrinsics with them, so the model sees objects at another pixel size."""
    height, width = sample["depth"].shape
    new_h, new_w = max(1, round(height * factor)), max(1, round(width * factor))
    rows, cols = nearest_indices(height, new_h), nearest_indices(width, new_w)
    out = dict(sample)
    out["depth"] = sample["depth"][np.ix_(rows, cols)]
    instances = sample["instances"]
    if instances is not None:
        out["instances"] = Instances(
            masks=instances.masks[:, rows][:, :, cols], scores=instances.scores, object_ids=instances.object_ids
        )
    intr = sample.get("intrinsics")
    if intr is not None:
        sx, sy = new_w / width, new_h / height
        out["intrinsics"] = CameraIntrinsics(
            intr.fx * sx, intr.fy * sy, (intr.cx + 0.5) * sx - 0.5, (intr.cy + 0.5) * sy - 0.5, new_w, new_h, intr.frame
        )
    for key in ("bin_mask", "color"):
        if key in sample:
            out[key] = sample[key][rows][:, cols]
    return out  # type: ignore[return-value]


def instances_to_target(instances: Instances, image_id: int) -> dict[str, torch.Tensor]:
    """Instances → the target dict of torchvision's Mask R-CNN (empty masks dropped)."""
    keep = instances.areas() > 0
    kept = instances.select(np.flatnonzero(keep))
    n = len(kept)
    return {
        "boxes": torch.from_numpy(kept.boxes_xyxy()).reshape(n, 4),
        "labels": torch.ones(n, dtype=torch.int64),
        "masks": torch.from_numpy(kept.masks.astype(np.uint8)),
        "image_id": torch.tensor(image_id, dtype=torch.int64),
    }


def flip(image: torch.Tensor, target: dict[str, torch.Tensor], horizontal: bool, vertical: bool) -> tuple[
    torch.Tensor, dict[str, torch.Tensor]
]:
    """Flip image, masks and boxes together (the original's flips were never applied)."""
    dims = [d for d, on in ((-1, horizontal), (-2, vertical)) if on]
    if not dims:
        return image, target
    height, width = image.shape[-2:]
    out = dict(target)
    out["masks"] = target["masks"].flip(dims)
    boxes = target["boxes"].clone()
    if horizontal:
        boxes[:, [0, 2]] = width - target["boxes"][:, [2, 0]]
    if vertical:
        boxes[:, [1, 3]] = height - target["boxes"][:, [3, 1]]
    out["boxes"] = boxes
    return image.flip(dims), out


def pad_bottom_right(
    image: torch.Tensor, target: dict[str, torch.Tensor] | None, size: int
) -> tuple[torch.Tensor, dict[str, torch.Tensor] | None]:
    """Zero-pad to ``size``×``size`` like the original (512×384 → 512×512); boxes are unchanged."""
    height, width = image.shape[-2:]
    if height > size or width > size:
        raise DataError(
            f"image of {height}×{width} is larger than the padding size {size}",
            fix=f"set data.pad_to to at least {max(height, width)} or null to disable padding",
        )
    padded = image.new_zeros((image.shape[0], size, size))
    padded[:, :height, :width] = image
    if target is None:
        return padded, None
    out = dict(target)
    masks = target["masks"].new_zeros((target["masks"].shape[0], size, size))
    masks[:, :height, :width] = target["masks"]
    out["masks"] = masks
    return padded, out


def sample_to_model_pair(sample: Sample, spec: InputSpec) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Encode one labelled sample as its network input (``spec``: depth or colour) and its target.

    A size mismatch between depth and masks names the image.
    """
    instances = sample["instances"]
    if instances is None:
        raise DataError(
            f"image {sample.get('name', sample['image_id'])} has no instance labels",
            fix="training and validation need a labelled dataset (modal_segmasks/ or label/)",
        )
    if instances.image_size != sample["depth"].shape:
        raise DataError(
            f"image {sample.get('name', sample['image_id'])}: masks are {instances.image_size} but depth "
            f"is {sample['depth'].shape}",
            fix="regenerate the masks at the depth image's resolution",
        )
    return spec.encode_sample(sample), instances_to_target(instances, sample["image_id"])
