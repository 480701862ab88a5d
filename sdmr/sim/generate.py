"""Generate a dataset: heaps → views → images on disk, in parallel, resumable, reproducible.

Everything random about heap ``h`` comes from ``np.random.default_rng([seed, h])`` and about
its view ``v`` from ``[seed, h, v + 1]``, so any heap (and any shard of heaps) can be regenerated
alone, in any process, and a restarted run skips the images the writer already completed.
Image ``i`` belongs to heap ``i // views_per_heap``. A heap is a test heap on a fixed schedule
(`heap_is_test`) and then uses only test objects, so the splits are image- AND object-disjoint.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing as mp
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sdmr.data.errors import DataError
from sdmr.data.instances import Instances
from sdmr.data.layout import RUN_CONFIG
from sdmr.data.sample import Sample
from sdmr.sim.camera import sample_view
from sdmr.sim.config import GenerateConfig
from sdmr.sim.noise import add_sensor_noise
from sdmr.sim.objects import MeshObject, ObjectLibrary, ObjectSpec
from sdmr.sim.scene import Heap, HeapSimulator, choose_layout, choose_scene_kind, sample_num_objects

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Shard:
    """Heaps ``h`` with ``h % count == index``: independent parts of one dataset."""

    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> Shard:
        try:
            i, k = (int(x) for x in text.split("/"))
        except ValueError as err:
            raise DataError(f"bad shard '{text}'", fix="write --shard i/k with 0 ≤ i < k, e.g. 0/4") from err
        if not 0 <= i < k:
            raise DataError(f"bad shard '{text}'", fix="write --shard i/k with 0 ≤ i < k, e.g. 0/4")
        return cls(i, k)


def heap_is_test(heap: int, test_fraction: float) -> bool:
    """Exactly ``test_fraction`` of every run of heaps, spread evenly, decided by the index alone."""
    return int(np.floor((heap + 1) * test_fraction)) > int(np.floor(heap * test_fraction))


def num_heaps(cfg: GenerateConfig) -> int:
    return -(-cfg.num_images // cfg.views_per_heap)


def heap_images(cfg: GenerateConfig, heap: int) -> range:
    start = heap * cfg.views_per_heap
    return range(start, min(start + cfg.views_per_heap, cfg.num_images))


def build_library(cfg: GenerateConfig, output: Path) -> ObjectLibrary:
    cache = cfg.objects.cache_dir or str(output / ".sdmr_cache")
    return ObjectLibrary.from_source(
        cfg.objects.source,
        seed=cfg.seed,
        num_procedural=cfg.objects.num_procedural,
        decomposition=cfg.objects.decomposition,
        cache_dir=cache,
        thin_fraction=cfg.objects.thin_fraction,
    )


class HeapGenerator:
    """One process's pybullet client, renderer and writer; turns heap indices into images."""

    def __init__(self, cfg: GenerateConfig, output: Path, library: ObjectLibrary):
        from sdmr.data.writer import DatasetWriter
        from sdmr.sim.render import make_renderer

        self.cfg = cfg
        self.library = library
        self.train_specs, self.test_specs = library.split(cfg.objects.test_fraction)
        if not self.train_specs or (cfg.test_fraction > 0 and not self.test_specs):
            raise DataError(
                f"{len(library.specs)} objects cannot be split into train and test sets",
                Path(cfg.objects.source),
                "use more objects or --config with objects.test_fraction: 0 and test_fraction: 0",
            )
        self.writer = DatasetWriter(output, cfg.render.png_encoding, cfg.render.numpy_depth)
        self.sim = HeapSimulator(cfg.scene)
        self.renderer = make_renderer(cfg.camera.width, cfg.camera.height, cfg.render.backend)
        self._meshes: dict[int, MeshObject | None] = {}

    def close(self) -> None:
        self.sim.close()
        self.renderer.close()

    def _mesh(self, spec: ObjectSpec) -> MeshObject | None:
        if spec.object_id not in self._meshes:
            self._meshes[spec.object_id] = self.library.load(spec)
        return self._meshes[spec.object_id]

    def build_heap(self, heap: int) -> tuple[Heap, bool]:
        """Simulate heap ``heap``; deterministic in (seed, heap) whatever ran before it.

        The layout and the row's boxes come from their own stream ``[seed, heap, 0]`` (views use
        ``[seed, heap, v + 1]``), so a drop-only config draws exactly what it always drew."""
        cfg = self.cfg
        rng = np.random.default_rng([cfg.seed, heap])
        layout_rng = np.random.default_rng([cfg.seed, heap, 0])
        is_test = heap_is_test(heap, cfg.test_fraction)
        pool = self.test_specs if is_test else self.train_specs
        layout = choose_layout(cfg.scene, layout_rng)
        row: list[MeshObject] = []
        if layout == "row":
            wanted = int(layout_rng.integers(*cfg.scene.row_size_range, endpoint=True))
            row = self._box_like(pool, layout_rng, wanted)
            if len(row) < 2:
                layout, row = "drop", []  # no two box-like objects among these: an ordinary heap
        if row:
            row_ids = {m.spec.object_id for m in row}
            pool = [s for s in pool if s.object_id not in row_ids]
        kind = choose_scene_kind(cfg.scene, rng)
        count = min(max(sample_num_objects(cfg.scene, rng) - len(row), 0), len(pool))
        chosen = [pool[i] for i in rng.choice(len(pool), size=count, replace=False)]
        meshes = [m for m in (self._mesh(s) for s in chosen) if m is not None]  # broken: skipped, logged
        return self.sim.simulate(row + meshes, rng, kind, layout, row_count=len(row)), is_test

    def _box_like(self, pool: list[ObjectSpec], rng: np.random.Generator, wanted: int) -> list[MeshObject]:
        """Up to ``wanted`` box-like objects of ``pool`` for a row, in random order;
        at most 60 candidates are loaded, so a library without boxes costs little."""
        found: list[MeshObject] = []
        for i in rng.permutation(len(pool))[:60]:
            mesh = self._mesh(pool[int(i)])
            if mesh is not None and mesh.is_box_like:
                found.append(mesh)
                if len(found) == wanted:
                    break
        return found

    def run_heap(self, heap: int) -> int:
        """Write every missing image of ``heap``; returns how many were written."""
        cfg = self.cfg
        todo = [i for i in heap_images(cfg, heap) if not self.writer.is_complete(i)]
        if not todo:
            return 0
        scene, is_test = self.build_heap(heap)
        self.renderer.set_heap(scene)
        centre = np.array([0.0, 0.0, cfg.scene.wall_thickness if scene.kind == "bin" else 0.0])
        camera = cfg.camera
        if any(box.name == "wall" for box in scene.statics):  # the wall stands at +y: look from the -y side
            camera = dataclasses.replace(camera, azimuth_deg_range=(180.0, 360.0))
        for index in todo:
            view_number = index - heap * cfg.views_per_heap
            rng = np.random.default_rng([cfg.seed, heap, view_number + 1])
            view = sample_view(camera, rng, centre)
            rendering = self.renderer.render(view, amodal=cfg.render.amodal, color=cfg.render.color)
            sample, labelled = self._sample(index, scene, view, rendering, rng)
            extra = {
                "heap": heap,
                "view": view_number,
                "split": "test" if is_test else "train",
                "scene": scene.kind,
                "objects_dropped": scene.dropped,
                "objects_in_workspace": len(scene.objects),
                "world_from_camera": np.round(view.world_from_camera, 9).tolist(),
                "noise": cfg.noise.enabled,
                **layout_meta(scene, labelled),
            }
            self.writer.write(index, sample, extra)
        return len(todo)

    def _sample(
        self, index: int, heap: Heap, view, rendering, rng: np.random.Generator
    ) -> tuple[Sample, np.ndarray]:
        """The image's sample, and the indices (into ``heap.objects``) of the objects it labels."""
        cfg = self.cfg
        n = len(heap.objects)
        counts = np.bincount(rendering.labels.ravel(), minlength=n + 1)[1 : n + 1]
        keep = np.flatnonzero(counts >= max(cfg.render.min_visible_pixels, 1))
        masks = rendering.labels[None] == (keep + 1)[:, None, None]
        amodal = None if rendering.amodal is None else rendering.amodal[keep]
        ids = np.array([heap.objects[k].object_id for k in keep], dtype=np.int64)
        instances = Instances(masks=masks, amodal=amodal, object_ids=ids)
        depth = rendering.depth
        if cfg.noise.enabled:
            depth = add_sensor_noise(depth, cfg.noise, rng)
        sample: Sample = {
            "depth": depth,
            "instances": instances,
            "intrinsics": view.intrinsics,
            "image_id": index,
        }
        if rendering.color is not None:
            sample["color"] = rendering.color
        if cfg.render.bin_mask:
            sample["bin_mask"] = rendering.labels == 0
        return sample, keep


def layout_meta(heap: Heap, labelled: np.ndarray) -> dict:
    """Per-image record of the heap's layout: touching pairs and stacked objects among the objects
    this image labels (an object out of view cannot be merged with anything in it)."""
    seen = {int(k) for k in labelled}
    return {
        "layout": heap.meta.get("layout", "drop"),
        "touching_pairs": sum(1 for i, j in heap.meta.get("touching", []) if i in seen and j in seen),
        "stacked_objects": sum(1 for i in heap.meta.get("stacked", []) if i in seen),
    }


# ----------------------------------------------------------------------------- worker processes
_WORKER: HeapGenerator | None = None
_WORKER_ERROR: Exception | None = None


def _init_worker(cfg: GenerateConfig, output: str, library: ObjectLibrary, gl_threads: int | None) -> None:
    global _WORKER, _WORKER_ERROR
    from sdmr.cli import ignore_sigint_in_worker

    ignore_sigint_in_worker()  # Ctrl-C: the parent reports it and terminates the pool
    if gl_threads:
        os.environ.setdefault("LP_NUM_THREADS", str(gl_threads))  # llvmpipe threads per process
    logging.basicConfig(level=logging.WARNING)
    try:
        _WORKER = HeapGenerator(cfg, Path(output), library)
    except Exception as err:  # noqa: BLE001 - a failing Pool initializer respawns for ever; report it instead
        _WORKER_ERROR = err


def _run_in_worker(heap: int) -> tuple[int, int]:
    if _WORKER is None:
        raise RuntimeError(f"worker could not start: {_WORKER_ERROR!r}")
    return heap, _WORKER.run_heap(heap)


def pending_heaps(cfg: GenerateConfig, output: Path, shard: Shard) -> list[int]:
    """Heaps of ``shard`` with an image still missing (its meta JSON, written last, is absent)."""
    from sdmr.data.layout import META_DIR, indices_in

    done = indices_in(output / META_DIR, (".json",))
    return [
        h for h in range(shard.index, num_heaps(cfg), shard.count) if not done.issuperset(heap_images(cfg, h))
    ]


def _iterate(
    cfg: GenerateConfig, output: Path, library: ObjectLibrary, heaps: list[int], workers: int
) -> Iterator[int]:
    """Images written per finished heap, from this process (workers ≤ 1) or a spawn pool."""
    if workers <= 1:
        gen = HeapGenerator(cfg, output, library)
        try:
            for heap in heaps:
                yield gen.run_heap(heap)
        finally:
            gen.close()
        return
    ctx = mp.get_context("spawn")  # a fresh interpreter per worker: own pybullet and GL context
    gl_threads = max(1, (os.cpu_count() or 1) // workers)
    with ctx.Pool(workers, _init_worker, (cfg, str(output), library, gl_threads)) as pool:
        for _, written in pool.imap_unordered(_run_in_worker, heaps, chunksize=1):
            yield written


def generate(
    cfg: GenerateConfig,
    output: str | Path,
    workers: int = 1,
    shard: Shard = Shard(),
    progress: bool = True,
    finalize: bool = True,
) -> dict:
    """Generate (or finish) the dataset in ``output``; returns a summary with images/s.

    Everything that can be refused is refused before anything is written: bad settings, an
    output folder holding data this generator did not start (`check_output`), a resume with
    other settings or fewer images. The folder is then locked (`FolderLock`) for the whole run,
    and temp files orphaned by a killed run are removed before writing resumes."""
    from tqdm import tqdm

    from sdmr.data.atomic import remove_temp_files
    from sdmr.data.lock import FolderLock
    from sdmr.data.writer import check_png_encoding

    output = Path(output)
    if workers < 1:
        raise DataError(f"workers must be ≥ 1, got {workers}", fix="pass --workers 1 or more")
    check_png_encoding(cfg.render.png_encoding, output)  # bad settings fail here, not in workers
    check_output(cfg, output)  # read-only: a refused run leaves the folder as it was
    library = build_library(cfg, output)
    with FolderLock(output, "sdmr-generate"):
        check_output(cfg, output)  # again, now that no other writer can start
        for path in remove_temp_files(output):
            log.warning("removed %s, left by an interrupted write", path)
        write_run_config(cfg, output)
        heaps = pending_heaps(cfg, output, shard)
        total = sum(len(heap_images(cfg, h)) for h in range(shard.index, num_heaps(cfg), shard.count))
        todo = sum(len(heap_images(cfg, h)) for h in heaps)  # upper bound: partly written heaps
        start = time.perf_counter()
        written = 0
        with tqdm(
            total=total, initial=total - todo, unit="img", disable=not progress, desc="sdmr-generate"
        ) as bar:
            for count in _iterate(cfg, output, library, heaps, workers):
                written += count
                bar.update(count)
        elapsed = time.perf_counter() - start
        summary = {"images_written": written, "seconds": elapsed, "images_per_s": written / max(elapsed, 1e-9)}
        if finalize:
            finalize_dataset(cfg, output, library, shard)
    return summary


#: Entries of an output folder that say nothing about its data (lock, decomposition cache).
_BOOKKEEPING = (".sdmr.lock", ".sdmr_cache")


def _stored_settings(cfg: GenerateConfig) -> dict:
    """What must match to resume: every setting but ``num_images`` (a run may be extended)."""
    import json

    return json.loads(
        json.dumps({k: v for k, v in cfg.as_dict().items() if k != "num_images"}, sort_keys=True)
    )


def _describe_entries(output: Path, entries: list[Path]) -> str:
    from sdmr.data.layout import DEPTH_DIR, DEPTH_NUMPY_DIR, MANIFEST, read_json

    names = [p.name + ("/" if p.is_dir() else "") for p in sorted(entries)]
    shown = ", ".join(names[:6]) + (f", ... ({len(names)} entries)" if len(names) > 6 else "")
    kind = "files"
    if (output / MANIFEST).is_file():
        try:
            made_by = read_json(output / MANIFEST).get("metadata", {}).get("generator")
        except DataError:
            made_by = None
        kind = f"a finished dataset ({MANIFEST} made by {made_by})" if made_by else f"a finished dataset ({MANIFEST})"
    elif (output / DEPTH_DIR).is_dir() or (output / DEPTH_NUMPY_DIR).is_dir() or (output / "images").is_dir():
        kind = "a WISDOM-layout dataset"
    return f"{kind}: {shown}"


def check_output(cfg: GenerateConfig, output: Path) -> None:
    """Refuse an output this run must not write into; reads only, never writes.

    * a file, not a folder;
    * a non-empty folder without ``generate_config.json``: data this generator did not start
      (a toy or WISDOM dataset, a merged dataset, anything else), which resuming would mix with ours;
    * other settings than the stored ones (`check_same_config`);
    * fewer images than the folder already holds or was started with."""
    from sdmr.data.atomic import is_temp_file
    from sdmr.data.layout import META_DIR, indices_in
    from sdmr.data.safe_load import load_json_object

    if output.exists() and not output.is_dir():
        raise DataError("--output is a file, not a folder", output, "pass a new or empty folder as --output")
    if not output.is_dir():
        return
    entries = [p for p in output.iterdir() if p.name not in _BOOKKEEPING and not is_temp_file(p)]
    if not entries:
        return
    path = output / RUN_CONFIG
    if not path.is_file():
        raise DataError(
            f"--output already holds {_describe_entries(output, entries)}; not made by sdmr-generate "
            f"(no {RUN_CONFIG}), so it is left untouched",
            output,
            "pass a new or empty --output folder (sdmr-generate only resumes folders it started)",
        )
    check_same_config(cfg, output)
    stored = load_json_object(path, "generator settings", "write to a new --output folder", "")
    done = indices_in(output / META_DIR, (".json",))
    started = stored.get("num_images")
    largest = max([int(started) if isinstance(started, int) else 0, max(done) + 1 if done else 0])
    if cfg.num_images < largest:
        raise DataError(
            f"this folder was started as a dataset of {largest} images (image numbers up to {largest - 1}), "
            f"but --num-images is {cfg.num_images}; a resume never drops images",
            path,
            f"resume with --num-images {largest} or more, or write to a new --output folder",
        )


def check_same_config(cfg: GenerateConfig, output: Path) -> None:
    """Resuming with other settings would mix two datasets: refuse. Only ``num_images`` may change
    (images depend on their index alone, so a run can be extended). Reads only."""
    from sdmr.data.safe_load import load_json_object

    current = _stored_settings(cfg)
    path = output / RUN_CONFIG
    if not path.is_file():
        return
    stored = load_json_object(
        path,
        "generator settings",
        "write to a new --output folder",
        "restore the file from the run that wrote this folder, or write to a new --output folder",
    )
    stored = {k: v for k, v in stored.items() if k != "num_images"}
    if stored != current:
        changed = sorted(k for k in set(stored) | set(current) if stored.get(k) != current.get(k))
        raise DataError(
            f"this folder was generated with other settings (differences in: {', '.join(changed)})",
            path,
            "resume with the same config and seed, or write to a new --output folder",
        )


def write_run_config(cfg: GenerateConfig, output: Path) -> None:
    """Store the run's settings (and the largest ``num_images`` asked for) once `check_output` passed."""
    import json

    from sdmr.data.atomic import atomic_write_text
    from sdmr.data.safe_load import load_json_object

    path = output / RUN_CONFIG
    settings = _stored_settings(cfg)
    previous = 0
    if path.is_file():
        started = load_json_object(path, "generator settings", "", "").get("num_images")
        previous = started if isinstance(started, int) else 0
    settings["num_images"] = max(cfg.num_images, previous)
    text = json.dumps(settings, indent=2, sort_keys=True)
    if not path.is_file() or path.read_text() != text:
        atomic_write_text(path, text)


def split_indices(cfg: GenerateConfig, shard: Shard = Shard()) -> tuple[np.ndarray, np.ndarray]:
    train, test = [], []
    for h in range(shard.index, num_heaps(cfg), shard.count):
        (test if heap_is_test(h, cfg.test_fraction) else train).extend(heap_images(cfg, h))
    return np.asarray(train, dtype=np.int64), np.asarray(test, dtype=np.int64)


def finalize_dataset(
    cfg: GenerateConfig, output: Path, library: ObjectLibrary, shard: Shard = Shard()
) -> Path:
    """Write split files + manifest, after checking that no object appears in both splits."""
    from sdmr.data.layout import read_json
    from sdmr.data.writer import DatasetWriter

    writer = DatasetWriter(output, cfg.render.png_encoding, cfg.render.numpy_depth)
    train, test = split_indices(cfg, shard)
    seen = {}
    for name, indices in (("train", train), ("test", test)):
        ids: set[int] = set()
        for i in indices:
            if writer.is_complete(int(i)):
                ids.update(read_json(writer.meta_path(int(i))).get("object_ids") or [])
        seen[name] = ids
    shared = seen["train"] & seen["test"]
    if shared:
        raise DataError(f"objects {sorted(shared)[:5]} appear in train and test images", output)
    train_specs, test_specs = library.split(cfg.objects.test_fraction)
    metadata = {
        "generator": "sdmr.sim",
        "config": cfg.as_dict(),
        "shard": [shard.index, shard.count],
        "objects": {
            "source": cfg.objects.source,
            "train": [s.object_id for s in train_specs],
            "test": [s.object_id for s in test_specs],
            "names": {s.object_id: s.name for s in library.specs},
        },
    }
    return writer.finalize(train, test, metadata)
