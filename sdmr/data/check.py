"""`check_dataset`: find every problem in a dataset before a 20-hour training run does.

It reads every image with the same loaders training uses, plus checks a loader cannot
make on one image: both depth copies agree, split files are sane and disjoint, files are
not left half-written, masks are non-empty, disjoint and inside their amodal masks.
Problems are grouped by kind, each with the files it was found in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from sdmr.data import layout as L
from sdmr.data.atomic import find_temp_files
from sdmr.data.catalog import check_dataset_name, depth_encoding_kwargs, detect_dataset, open_dataset
from sdmr.data.depth_io import read_depth, valid_mask
from sdmr.data.errors import DataError
from sdmr.data.lock import LOCK_NAME, lock_holder
from sdmr.data.sample import Sample
from sdmr.data.wisdom import WisdomDataset, detect_layout

# problem kind ← words of a DataError's problem text; the first match wins
_KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("unsafe_path", (L.UNSAFE_PATH_PROBLEM,)),
    ("missing_file", ("not found",)),
    ("corrupt_file", ("cannot decode", "cannot read", "not valid json", "expected a json")),
    ("wrong_encoding", ("read as", "expected a 16-bit")),
    ("bad_indices", ("indices", "index")),
    ("empty_mask", ("no pixel", "no visible", "empty")),
    ("overlapping_masks", ("more than one",)),
    ("amodal_mismatch", ("amodal",)),
    ("size_mismatch", ("differs", "but depth is", "but the intrinsics", "size")),
    ("bad_labels", ("label",)),
    ("bad_depth", ("depth",)),
)
PROBLEM_KINDS: tuple[str, ...] = (
    *(kind for kind, _ in _KINDS),
    "incomplete_image",
    "incomplete_dataset",
    "orphan_temp_file",
    "invalid_data",
)


def classify(err: DataError) -> str:
    text = err.problem.lower()
    return next((kind for kind, words in _KINDS if any(w in text for w in words)), "invalid_data")


@dataclass(frozen=True)
class Problem:
    kind: str
    path: Path | None
    message: str


@dataclass
class CheckReport:
    """What ``sdmr-data check`` prints; ``ok`` is False when any problem was found."""

    root: Path
    dataset: str
    num_images: int = 0
    splits: dict[str, int] = field(default_factory=dict)
    objects_per_image: list[int] = field(default_factory=list)
    image_sizes: Counter = field(default_factory=Counter)
    depth_min: float = float("inf")
    depth_max: float = float("-inf")
    valid_fractions: list[float] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    _seen: set[tuple[str, Path | None]] = field(default_factory=set, repr=False)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, kind: str, path: Path | None, message: str) -> None:
        if path is not None and str(path) not in message:
            message = f"{path}: {message}"
        if (kind, path) not in self._seen:  # one file's problem is reported once, however it is reached
            self._seen.add((kind, path))
            self.problems.append(Problem(kind, path, message))

    def add_error(self, err: DataError) -> None:
        self.add(classify(err), err.path, str(err))

    def by_kind(self) -> dict[str, list[Problem]]:
        groups: dict[str, list[Problem]] = {}
        for problem in self.problems:
            groups.setdefault(problem.kind, []).append(problem)
        return groups

    def record_depth(self, depth: np.ndarray) -> None:
        valid = valid_mask(depth)
        self.valid_fractions.append(float(valid.mean()))
        if valid.any():
            self.depth_min = min(self.depth_min, float(depth[valid].min()))
            self.depth_max = max(self.depth_max, float(depth[valid].max()))

    def _relative(self, path: Path | None) -> str:
        if path is None:
            return "(no file)"
        base = self.root if self.root.is_dir() else self.root.parent
        try:
            return path.relative_to(base).as_posix()
        except ValueError:
            return str(path)

    def format_table(self, max_files: int = 3) -> str:
        rows = [("dataset", f"{self.dataset} at {self.root}"), ("images", str(self.num_images))]
        rows += [(f"split {name}", str(count)) for name, count in self.splits.items()]
        sizes = ", ".join(f"{h}×{w} ({n})" for (h, w), n in self.image_sizes.most_common())
        rows.append(("image size (h×w)", sizes or "-"))
        if self.objects_per_image:
            objs = np.asarray(self.objects_per_image)
            rows.append(
                (
                    "objects/image",
                    (
                        f"min {objs.min()}  mean {objs.mean():.2f}  max {objs.max()}  "
                        f"({objs.size} labelled images, {objs.sum()} objects)"
                    ),
                )
            )
        else:
            rows.append(("objects/image", "- (unlabelled)"))
        if self.valid_fractions:
            rows.append(
                (
                    "depth (m)",
                    (
                        f"min {self.depth_min:.3f}  max {self.depth_max:.3f}  "
                        f"valid pixels {100 * np.mean(self.valid_fractions):.1f} %"
                    ),
                )
            )
        rows.append(("problems", "none" if self.ok else str(len(self.problems))))
        width = max(len(r[0]) for r in rows)
        lines = [f"{name:<{width}}  {value}" for name, value in rows]
        if not self.ok:
            groups = self.by_kind()
            kind_width = max(len(k) for k in groups)
            lines += ["", f"{'problem':<{kind_width}}  {'count':>5}  first files"]
            for kind, problems in groups.items():
                files = ", ".join(self._relative(p.path) for p in problems[:max_files])
                more = " ..." if len(problems) > max_files else ""
                lines.append(f"{kind:<{kind_width}}  {len(problems):>5}  {files}{more}")
            lines += ["", "first problem of each kind:"]
            lines += [f"  {kind}: {problems[0].message}" for kind, problems in groups.items()]
        return "\n".join(lines)


def check_sample(report: CheckReport, sample: Sample, where: Path | None) -> None:
    """Checks on one loaded sample that hold for every dataset."""
    depth = sample["depth"]
    report.record_depth(depth)
    report.image_sizes[depth.shape] += 1
    intr = sample.get("intrinsics")
    if intr is not None and (intr.height, intr.width) != depth.shape:
        report.add("size_mismatch", where, f"intrinsics are {intr.height}×{intr.width}, depth {depth.shape}")
    instances = sample["instances"]
    if instances is None:
        return
    report.objects_per_image.append(len(instances))
    empty = np.flatnonzero(instances.areas() == 0)
    if empty.size:
        report.add("empty_mask", where, f"instances {empty.tolist()} have no visible pixel")
    if len(instances) and (instances.masks.sum(axis=0) > 1).any():
        report.add("overlapping_masks", where, "modal masks overlap (a pixel belongs to two objects)")
    if instances.amodal is not None:
        if (instances.masks & ~instances.amodal).any():
            report.add("amodal_mismatch", where, "modal mask pixels lie outside their amodal mask")
        if (instances.amodal.sum(axis=(1, 2)) == 0).any():
            report.add("empty_mask", where, "an amodal mask is empty")


def _check_splits(report: CheckReport, dataset: WisdomDataset) -> None:
    loaded: dict[str, np.ndarray] = {}
    for split in L.SPLITS:
        path = dataset.index_path(split)
        if not path.is_file():
            continue
        try:
            indices = L.load_index_file(path)
        except DataError as err:
            report.add_error(err)
            continue
        loaded[split] = indices
        report.splits[split] = int(indices.size)
        unknown = sorted(set(indices.tolist()) - dataset.available)
        if unknown:
            report.add("bad_indices", path, f"{len(unknown)} indices name missing images, e.g. {unknown[:5]}")
    if len(loaded) == 2:
        shared = np.intersect1d(loaded["train"], loaded["test"])
        if shared.size:
            report.add(
                "bad_indices",
                dataset.index_path("test"),
                f"{shared.size} images in train and test: {shared[:5].tolist()}",
            )
        unassigned = len(dataset.available - set(np.concatenate(list(loaded.values())).tolist()))
        if unassigned:
            report.splits["in no split"] = unassigned


def _check_wisdom(report: CheckReport, root: Path, depth_encoding: str | None, progress: bool) -> None:
    _, base = detect_layout(root)
    full = WisdomDataset(
        root,
        split=None,
        depth_encoding=depth_encoding,
        load_amodal=True,
        load_color=(base / L.COLOR_DIR).is_dir(),
    )
    report.dataset += f" ({full.layout} layout)"
    report.num_images = len(full.available)
    _check_splits(report, full)
    if full.is_sdmr:
        written = L.indices_in(root / L.DEPTH_DIR, (".png", ".npy")) | L.indices_in(
            root / L.DEPTH_NUMPY_DIR, (".npy",)
        )
        for index in sorted(written - full.available):
            report.add(
                "incomplete_image",
                root / L.META_DIR / L.image_name(index, ".json"),
                f"image {index} has files but no meta JSON (an interrupted write): rerun the generator to finish it",
            )
    for index in tqdm(sorted(full.available), desc="check", unit="img", disable=not progress):
        copies = []
        for path, encoding in (
            (full.base / L.DEPTH_DIR / L.image_name(index, ".png"), full.depth_encoding),
            (full.base / L.DEPTH_NUMPY_DIR / L.image_name(index, ".npy"), "npy"),
        ):
            if path.is_file():
                try:
                    copies.append((path, read_depth(path, encoding)))
                except DataError as err:
                    report.add_error(err)
        if len(copies) == 2 and copies[0][1].shape != copies[1][1].shape:
            report.add(
                "size_mismatch", copies[0][0], f"PNG depth {copies[0][1].shape} vs numpy {copies[1][1].shape}"
            )
        try:
            sample = full.read(index)
        except DataError as err:
            report.add_error(err)
            continue
        check_sample(report, sample, full.depth_path(index)[0])


def _check_generic(report: CheckReport, dataset: Sequence[Sample], progress: bool) -> None:
    report.num_images = len(dataset)
    report.splits["all"] = len(dataset)
    for position in tqdm(range(len(dataset)), desc="check", unit="img", disable=not progress):
        try:
            sample = dataset[position]
        except DataError as err:
            report.add_error(err)
            continue
        where = dataset.depth_path(sample["image_id"])[0] if hasattr(dataset, "depth_path") else None
        check_sample(report, sample, where)


def _check_leftovers(report: CheckReport, root: Path) -> bool:
    """What an interrupted writer leaves: temp files of atomic writes, a generation that never
    finished. Returns False when there are no images to read at all (only the run's settings)."""
    holder = lock_holder(root)
    if holder is not None:
        report.add(
            "incomplete_dataset",
            root,
            f"is being written right now (pid {holder} holds {LOCK_NAME}): check it once that process has ended",
        )
    else:  # with no writer alive, every temp file is an orphan
        for path in find_temp_files(root):
            report.add(
                "orphan_temp_file",
                path,
                "temp file left by an interrupted write; rerunning sdmr-generate on this folder removes it "
                "(or delete it: the file it was meant to replace is intact)",
            )
    started = (root / L.RUN_CONFIG).is_file()
    if started or (root / L.META_DIR).is_dir():
        missing = [
            name
            for name in (L.MANIFEST, L.index_file(root, "train").name, L.index_file(root, "test").name)
            if not (root / name).is_file()
        ]
        if missing:
            report.add(
                "incomplete_dataset",
                root / missing[0],
                f"generation never finished (no {', '.join(missing)}): rerun the same sdmr-generate command "
                "(same --output and settings) to finish it",
            )
    has_images = any((root / d).is_dir() for d in (L.DEPTH_DIR, L.DEPTH_NUMPY_DIR, "images"))
    return has_images or not started


def check_dataset(
    path: str | Path, dataset: str | None = None, depth_encoding: str | None = None, progress: bool = True
) -> CheckReport:
    """Check every image of the dataset at ``path`` (its kind detected from the folders unless named)."""
    root = Path(path)
    name = check_dataset_name(dataset, root) if dataset else detect_dataset(root)
    kwargs = depth_encoding_kwargs(name, depth_encoding, root)
    report = CheckReport(root=root, dataset=name)
    if root.is_dir() and not _check_leftovers(report, root):
        return report
    try:
        if name in ("wisdom_sim", "wisdom_real"):
            _check_wisdom(report, root, depth_encoding, progress)
        else:
            _check_generic(report, open_dataset(name, root, **kwargs), progress)
    except DataError as err:  # the dataset cannot even be opened
        report.add_error(err)
    return report
