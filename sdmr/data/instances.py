"""`Instances`: the one type for object masks used by datasets, methods, metrics and plots."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sdmr.data.errors import DataError


def paint_labels(masks: np.ndarray, scores: np.ndarray | None = None) -> np.ndarray:
    """One uint16 id image from N (possibly overlapping) bool ``N×H×W`` masks: 0 = background,
    k = mask k (1-based, in the order given).

    The one rule where masks overlap: the pixel goes to the mask with the highest score; on a
    tie, or without scores, to the earlier mask. (Masks are painted worst first, so each pixel
    ends with the best.) Used by ``sdmr-segment``'s label images and `Instances.to_label_image`.
    """
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim != 3:
        raise DataError(f"masks must be N×H×W, got shape {masks.shape}")
    if len(masks) > np.iinfo(np.uint16).max:
        raise DataError(f"{len(masks)} instances do not fit a uint16 label image")
    if scores is None:
        order = np.arange(len(masks))
    else:
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        if len(scores) != len(masks):
            raise DataError(f"{len(scores)} scores for {len(masks)} masks")
        order = np.argsort(-scores, kind="stable")  # best first; equal scores keep their order
    label = np.zeros(masks.shape[1:], dtype=np.uint16)
    for k in order[::-1]:
        label[masks[k]] = k + 1
    return label


@dataclass
class Instances:
    """N object instances of one H×W image.

    ``masks`` are modal (visible pixels), bool ``N×H×W``. ``amodal`` (bool ``N×H×W``),
    ``scores`` (float ``N``, higher = more confident) and ``object_ids`` (int ``N``, the
    simulator's or dataset's object identity) are optional. Validation happens on
    construction so a wrong shape or dtype fails where it is made, not deep in a metric.
    """

    masks: np.ndarray
    scores: np.ndarray | None = None
    amodal: np.ndarray | None = None
    object_ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        masks = np.asarray(self.masks)
        if masks.ndim != 3:
            raise DataError(
                f"Instances.masks must be N×H×W, got shape {masks.shape}",
                fix="stack per-object masks with np.stack(masks) (use Instances.empty(h, w) for none)",
            )
        if masks.dtype != bool:
            raise DataError(
                f"Instances.masks must be bool, got {masks.dtype}",
                fix="pass masks > 0 (or masks.astype(bool)) for 0/1 or 0/255 masks",
            )
        self.masks = masks
        n = masks.shape[0]
        if self.scores is not None:
            scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
            if scores.shape[0] != n:
                raise DataError(f"Instances.scores has {scores.shape[0]} entries for {n} masks")
            if not np.all(np.isfinite(scores)):
                raise DataError("Instances.scores contains NaN or inf", fix="give every mask a finite score")
            self.scores = scores
        if self.amodal is not None:
            amodal = np.asarray(self.amodal)
            if amodal.shape != masks.shape or amodal.dtype != bool:
                raise DataError(
                    f"Instances.amodal must be bool with the masks' shape {masks.shape}, "
                    f"got {amodal.dtype} {amodal.shape}"
                )
            self.amodal = amodal
        if self.object_ids is not None:
            ids = np.asarray(self.object_ids, dtype=np.int64).reshape(-1)
            if ids.shape[0] != n:
                raise DataError(f"Instances.object_ids has {ids.shape[0]} entries for {n} masks")
            self.object_ids = ids

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return int(self.masks.shape[0])

    @property
    def image_size(self) -> tuple[int, int]:
        """(height, width) of the image the masks belong to."""
        return int(self.masks.shape[1]), int(self.masks.shape[2])

    @classmethod
    def empty(cls, height: int, width: int, with_scores: bool = False) -> Instances:
        """No instances: what a method returns when it finds nothing."""
        return cls(
            masks=np.zeros((0, height, width), dtype=bool),
            scores=np.zeros(0, dtype=np.float32) if with_scores else None,
        )

    def select(self, index: np.ndarray | list[int] | slice) -> Instances:
        """A subset (or reordering) of the instances, keeping every optional field aligned."""

        def pick(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[index]

        return Instances(
            masks=self.masks[index],
            scores=pick(self.scores),
            amodal=pick(self.amodal),
            object_ids=pick(self.object_ids),
        )

    def areas(self) -> np.ndarray:
        """Visible pixel count of each instance."""
        return self.masks.sum(axis=(1, 2))  # (reshape(N, -1) fails for N = 0)

    def boxes_xyxy(self) -> np.ndarray:
        """Tight ``x0, y0, x1, y1`` boxes (x1, y1 exclusive) of the masks; zeros for empty masks."""
        boxes = np.zeros((len(self), 4), dtype=np.float32)
        for i, mask in enumerate(self.masks):
            ys = np.flatnonzero(mask.any(axis=1))
            xs = np.flatnonzero(mask.any(axis=0))
            if len(ys):
                boxes[i] = (xs[0], ys[0], xs[-1] + 1, ys[-1] + 1)
        return boxes

    # ------------------------------------------------------------- label image
    def to_label_image(self) -> np.ndarray:
        """One uint16 image: 0 = background, k = instance k (1-based, in order).

        This is the WISDOM ``modal_segmasks`` format. Overlapping masks cannot be stored
        in it, so they raise instead of silently losing pixels.
        """
        counts = self.masks.sum(axis=0)
        if np.any(counts > 1):
            raise DataError(
                f"{int((counts > 1).sum())} pixels belong to more than one modal mask; a label "
                "image stores one instance per pixel",
                fix="make modal masks disjoint (visible pixels only) or keep the masks as an N×H×W array",
            )
        return paint_labels(self.masks, self.scores)

    @classmethod
    def from_label_image(
        cls, label: np.ndarray, background: tuple[int, ...] = (0,), min_pixels: int = 1
    ) -> Instances:
        """Split an instance-id image into masks, one per id not in ``background``.

        Ids are kept in ``object_ids`` so a dataset's own numbering survives the trip.
        """
        label = np.asarray(label)
        if label.ndim != 2:
            raise DataError(f"a label image must be H×W, got shape {label.shape}")
        if not np.issubdtype(label.dtype, np.integer):
            raise DataError(f"a label image must hold integers, got {label.dtype}")
        ids = [int(i) for i in np.unique(label) if int(i) not in background]
        masks = [label == i for i in ids]
        keep = [k for k, m in enumerate(masks) if m.sum() >= min_pixels]
        h, w = label.shape
        stacked = np.stack([masks[k] for k in keep]) if keep else np.zeros((0, h, w), dtype=bool)
        return cls(masks=stacked, object_ids=np.asarray([ids[k] for k in keep], dtype=np.int64))
