"""`DepthDataModule`: WISDOM-Sim / WISDOM-Real / any catalog dataset → Mask R-CNN batches."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from sdmr.data.corruption import CorruptionConfig, corrupt_depth
from sdmr.data.errors import DataError
from sdmr.data.input_spec import InputSpec, input_spec
from sdmr.data.sample import Sample
from sdmr.data.transforms import flip, pad_bottom_right, rescale_sample, sample_to_model_pair, three_channels

Batch = tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]


def check_scale_range(scale_range: Sequence[float] | None) -> tuple[float, float] | None:
    """``None`` or a ``(low, high)`` pair of positive factors, checked where it is configured."""
    if scale_range is None:
        return None
    low, high = (float(v) for v in scale_range)
    if not 0 < low <= high:
        raise DataError(
            f"data.scale_range must be [low, high] with 0 < low ≤ high, got {list(scale_range)}",
            fix="e.g. data.scale_range=[0.75,1.33], or null for no random rescaling",
        )
    return low, high


class DetectionDataset(Dataset):
    """Wraps a ``Sequence[Sample]`` and yields ``(image 3×H×W, target)`` pairs.

    Training-time augmentation, in this order: random rescale (log-uniform in ``scale_range``,
    so objects are seen at many pixel sizes), sensor corruption of the depth (``corruption``;
    labels untouched), then flips. Every random draw comes from torch's RNG, which DataLoader
    seeds per worker from its generator, so a run is reproducible from the DataModule seed with
    any number of workers.
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        input_encoding: InputSpec | str | Mapping[str, Any],
        flips: bool = False,
        pad_to: int | None = None,
        corruption: CorruptionConfig | None = None,
        scale_range: Sequence[float] | None = None,
    ) -> None:
        self.samples = samples
        self.spec = input_spec(input_encoding)
        self.flips = flips
        self.pad_to = pad_to
        self.corruption = corruption if corruption is not None and corruption.enabled else None
        self.scale_range = check_scale_range(scale_range)

    def __len__(self) -> int:
        return len(self.samples)

    def augment(self, sample: Sample) -> Sample:
        """Rescale and corrupt one sample (a no-op when neither is configured)."""
        if self.scale_range is not None and self.scale_range != (1.0, 1.0):
            low, high = np.log(self.scale_range)
            sample = rescale_sample(sample, float(np.exp(low + (high - low) * torch.rand(()).item())))
        if self.corruption is not None:
            rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, ())))
            instances = sample["instances"]
            masks = instances.masks if instances is not None else None
            sample = dict(sample, depth=corrupt_depth(sample["depth"], self.corruption, rng, masks))  # type: ignore[assignment]
        return sample

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        image, target = sample_to_model_pair(self.augment(self.samples[index]), self.spec)
        if self.flips:
            horizontal, vertical = (torch.rand(2) < 0.5).tolist()
            image, target = flip(image, target, horizontal, vertical)
        if self.pad_to is not None:
            image, target = pad_bottom_right(image, target, self.pad_to)
        return three_channels(image), target


def collate_detection(batch: list[tuple[torch.Tensor, dict]]) -> Batch:
    """Lists of images and targets, as torchvision detection models take them."""
    images, targets = zip(*batch, strict=True)
    return list(images), list(targets)


def seed_worker(worker_id: int) -> None:
    """Give numpy in each worker a seed derived from torch's per-worker seed."""
    np.random.seed(torch.initial_seed() % 2**32)


class Subset(Sequence):
    """A fixed selection of a dataset's items (keeps ``Sequence[Sample]`` typing)."""

    def __init__(self, base: Sequence[Sample], positions: np.ndarray) -> None:
        self.base = base
        self.positions = np.asarray(positions, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, index: int) -> Sample:  # type: ignore[override]
        return self.base[int(self.positions[index])]


class Concatenated(Sequence):
    """Several datasets' samples one after another (e.g. plain heaps + clutter layouts), image ids kept
    unique by offsetting each part's ids past the previous part's largest."""

    def __init__(self, parts: Sequence[Sequence[Sample]]) -> None:
        self.parts = list(parts)
        self.ends = np.cumsum([len(p) for p in self.parts])
        self.id_offsets = np.concatenate([[0], np.cumsum([_max_image_id(p) + 1 for p in self.parts])[:-1]])

    def __len__(self) -> int:
        return int(self.ends[-1]) if len(self.ends) else 0

    def __getitem__(self, index: int) -> Sample:  # type: ignore[override]
        if not 0 <= index < len(self):
            raise IndexError(index)
        part = int(np.searchsorted(self.ends, index, side="right"))
        start = 0 if part == 0 else int(self.ends[part - 1])
        sample = self.parts[part][index - start]
        return dict(sample, image_id=int(sample["image_id"]) + int(self.id_offsets[part]))  # type: ignore[return-value]


ID_STRIDE = 10**9  # id space per part when a dataset does not list its image ids up front


def _max_image_id(part: Sequence[Sample]) -> int:
    """The largest image id of a dataset, from its index when it has one (no sample is read);
    otherwise a bound no real id reaches, so ids of different parts can never collide."""
    ids = getattr(part, "indices", None)
    if ids is not None and len(ids):
        return int(np.max(ids))
    return ID_STRIDE - 1


def nested_subset_positions(total: int, size: int | None, seed: int, what: str) -> np.ndarray:
    """Positions of a deterministic random subset; smaller sizes are prefixes of larger ones.

    Nesting makes a dataset-size sweep (paper Fig. 6) compare like with like: the 4k run's
    images are inside the 8k run's.
    """
    if size is None:
        return np.arange(total)
    if size <= 0:
        raise DataError(f"{what} must be positive, got {size}")
    if size > total:
        raise DataError(
            f"{what}={size} but the split has only {total} images",
            fix=f"use {what} ≤ {total}, or null for all images",
        )
    return np.sort(np.random.default_rng(seed).permutation(total)[:size])


class DepthDataModule(pl.LightningDataModule):
    """Train/val loaders from a dataset's split files, or from samples in memory (:meth:`from_samples`).

    ``input_encoding`` is the model's input: a depth encoding name, ``"color"`` (the RGB images,
    loaded with the dataset), or an :class:`~sdmr.data.input_spec.InputSpec` or its dict.
    ``train_size`` subsamples the train split deterministically from ``seed`` (nested
    subsets), ``val_size`` takes the first images of the validation split. ``corruption``
    (a :class:`CorruptionConfig` or its dict) and ``scale_range`` augment training images only;
    validation sees the clean data.
    """

    def __init__(
        self,
        root: str | Sequence[str] | None,
        dataset: str = "wisdom_sim",
        input_encoding: str | Mapping[str, Any] = "median_relative",
        train_size: int | None = None,
        batch_size: int = 2,
        num_workers: int = 2,
        flips: bool = True,
        pad_to: int | None = 512,
        seed: int = 0,
        train_split: str = "train",
        val_split: str = "test",
        val_size: int | None = None,
        depth_source: str = "auto",
        dataset_kwargs: dict[str, Any] | None = None,
        corruption: CorruptionConfig | dict[str, Any] | None = None,
        scale_range: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        self.spec = input_spec(input_encoding)
        self.save_hyperparameters()
        if isinstance(corruption, Mapping):
            unknown = sorted(set(corruption) - set(CorruptionConfig.__dataclass_fields__))
            if unknown:
                raise DataError(
                    f"unknown data.corruption setting(s): {', '.join(unknown)}",
                    fix=f"valid keys: {', '.join(CorruptionConfig.__dataclass_fields__)}",
                )
            corruption = CorruptionConfig(**dict(corruption))
        self.corruption = corruption
        self.scale_range = check_scale_range(scale_range)
        self.root = root
        self.dataset_name = dataset
        self.train_size = train_size
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.flips = flips
        self.pad_to = pad_to
        self.seed = seed
        self.train_split = train_split
        self.val_split = val_split
        self.val_size = val_size
        self.dataset_kwargs = dict(dataset_kwargs or {})
        if dataset in ("wisdom_sim", "wisdom_real"):
            self.dataset_kwargs.setdefault("depth_source", depth_source)
        elif depth_source != "auto":
            raise DataError(
                f"depth_source='{depth_source}' only applies to WISDOM datasets, not '{dataset}'",
                fix="leave data.depth_source=auto for this dataset",
            )
        if self.spec.needs_color and dataset in ("wisdom_sim", "wisdom_real", "ocid"):
            self.dataset_kwargs.setdefault("load_color", True)
        self.train_set: DetectionDataset | None = None
        self.val_set: DetectionDataset | None = None
        self._given: dict[str, Sequence[Sample] | None] | None = None  # from_samples: the splits themselves

    @classmethod
    def from_samples(
        cls, train: Sequence[Sample], val: Sequence[Sample] | None = None, **settings: Any
    ) -> DepthDataModule:
        """A DataModule over samples already in memory (a catalog dataset, a list, a harness split),
        with every other setting as in the constructor; without ``val`` there is no validation.

        Why: a benchmark method's ``fit`` receives samples, not a folder, and must train through the
        same loaders, augmentation and LightningModule as ``python -m sdmr.train``.
        """
        if len(train) == 0:
            raise DataError("no training samples given", fix="pass a non-empty training split (--fit-split)")
        module = cls(None, **settings)
        module._given = {module.train_split: train, module.val_split: val}
        return module

    @property
    def has_validation(self) -> bool:
        """False only for :meth:`from_samples` without ``val``."""
        return self._given is None or self._given[self.val_split] is not None

    @property
    def roots(self) -> list[str]:
        """The dataset folders: ``root`` may be one folder or a list whose splits are concatenated."""
        return [self.root] if isinstance(self.root, str | Path) else [str(r) for r in self.root]

    def _open(self, split: str) -> Sequence[Sample]:
        from sdmr.data.catalog import open_dataset

        if self._given is not None:
            return self._given[split] or []
        if self.root is None:
            raise DataError("no dataset given", fix="pass data.root=DIR, or use DepthDataModule.from_samples(...)")
        parts = [open_dataset(self.dataset_name, root, split=split, **self.dataset_kwargs) for root in self.roots]
        return parts[0] if len(parts) == 1 else Concatenated(parts)

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit") and self.train_set is None:
            train = self._open(self.train_split)
            positions = nested_subset_positions(len(train), self.train_size, self.seed, "data.train_size")
            self.train_set = DetectionDataset(
                Subset(train, positions), self.spec, self.flips, self.pad_to, self.corruption, self.scale_range
            )
        if stage in (None, "fit", "validate") and self.val_set is None and self.has_validation:
            val = self._open(self.val_split)
            count = len(val) if self.val_size is None else min(self.val_size, len(val))
            self.val_set = DetectionDataset(Subset(val, np.arange(count)), self.spec, False, self.pad_to)

    def _loader(self, dataset: DetectionDataset | None, shuffle: bool) -> DataLoader:
        if dataset is None:
            raise RuntimeError("call setup() before asking for a loader")
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            collate_fn=collate_detection,
            worker_init_fn=seed_worker,
            generator=torch.Generator().manual_seed(self.seed),
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader | list:
        if not self.has_validation:
            return []  # Lightning runs no validation loop over an empty list
        return self._loader(self.val_set, shuffle=False)

    @property
    def input_encoding(self) -> str:
        """The depth encoding name (or ``"rgb"``); the full input is :attr:`spec`."""
        return self.spec.encoding

    def train_focal_px(self, max_samples: int = 50) -> float | None:
        """Median focal length (pixels) of the training images as the network sees them on
        average (the geometric mean of ``scale_range`` applied), or ``None`` without intrinsics."""
        if self.train_set is None:
            raise RuntimeError("call setup('fit') before asking for the training focal length")
        samples = self.train_set.samples
        step = max(1, len(samples) // max_samples)
        focals = [
            (intr.fx + intr.fy) / 2
            for i in range(0, len(samples), step)
            if (intr := samples[i].get("intrinsics")) is not None
        ]
        if not focals:
            return None
        scale = 1.0 if self.scale_range is None else float(np.sqrt(self.scale_range[0] * self.scale_range[1]))
        return float(np.median(focals)) * scale
