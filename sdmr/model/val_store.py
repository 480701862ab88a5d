"""Compact storage of validation masks until the epoch's COCO evaluation.

COCO AP needs every image's masks at once; a 512×512 bool mask is 256 KiB and an untrained
model returns 100 per image, so masks are kept bit-packed (8× smaller) and unpacked one image
at a time while ``coco_segm_metrics`` iterates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sdmr.data.instances import Instances


@dataclass
class PackedInstances:
    shape: tuple[int, int, int]
    bits: np.ndarray
    scores: np.ndarray | None

    @classmethod
    def pack(cls, instances: Instances) -> PackedInstances:
        return cls(tuple(instances.masks.shape), np.packbits(instances.masks, axis=None), instances.scores)

    def unpack(self) -> Instances:
        count = int(np.prod(self.shape))
        masks = np.unpackbits(self.bits, count=count).astype(bool).reshape(self.shape)
        return Instances(masks=masks, scores=self.scores)


class PackedInstancesList(Sequence):
    """A ``Sequence[Instances]`` view that unpacks lazily."""

    def __init__(self, items: list[PackedInstances]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Instances:  # type: ignore[override]
        return self.items[index].unpack()
