"""Generation speed: images/s per core at 512×384 with modal + amodal masks written to disk.

Peer: the paper's generator, 50,000 images in 26 h on a 4-core i7-6700 = 0.13 images/s per core.
Also compares the two renderers (pyrender on EGL vs pybullet's TinyRenderer) on the same heaps.

    python benchmarks/generation.py --images 200 --workers 1 2
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

PAPER_IMAGES_PER_S_PER_CORE = 50_000 / (26 * 3600) / 4  # 0.134


def bench_generate(images: int, workers: int, values: dict) -> dict:
    from sdmr.sim.config import build_config
    from sdmr.sim.generate import generate

    out = Path(tempfile.mkdtemp(prefix="sdmr_bench_gen_"))
    allowed = os.sched_getaffinity(0)
    cores = min(workers, len(allowed))
    try:
        cfg = build_config({**values, "num_images": images})
        load = os.getloadavg()[0]
        # "per core" means it: the run (and llvmpipe's render threads) may use only `cores` CPUs
        os.sched_setaffinity(0, sorted(allowed)[:cores])
        summary = generate(cfg, out, workers=workers, progress=False)
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
        clutter = clutter_stats(out)
    finally:
        os.sched_setaffinity(0, allowed)
        shutil.rmtree(out, ignore_errors=True)
    return {
        "workers": workers,
        "images_per_s": summary["images_per_s"],
        "per_core": summary["images_per_s"] / cores,
        "load_before": load,
        "mb": size / 1e6,
        **clutter,
    }


def clutter_stats(root: Path) -> dict:
    """Share of images with a touching pair (two labelled objects < 4 mm apart, which Euclidean
    clustering at the paper's tolerance merges) and with an object resting on another."""
    import json

    from sdmr.data.layout import META_DIR

    extras = [json.loads(p.read_text())["extra"] for p in sorted((root / META_DIR).glob("*.json"))]
    n = max(len(extras), 1)
    return {
        "touching_share": sum(e.get("touching_pairs", 0) > 0 for e in extras) / n,
        "touching_mean": sum(e.get("touching_pairs", 0) for e in extras) / n,
        "stacked_share": sum(e.get("stacked_objects", 0) > 0 for e in extras) / n,
    }


def bench_renderers(
    width: int, height: int, heaps: int = 4, views: int = 5
) -> dict[str, tuple[float, float]]:
    """ms per image for depth + modal labels, and with amodal masks, per backend, on the same heaps."""
    from sdmr.sim.camera import camera_preset, sample_view
    from sdmr.sim.objects import ObjectLibrary
    from sdmr.sim.render import make_renderer
    from sdmr.sim.scene import HeapSimulator, SceneConfig

    lib = ObjectLibrary.from_source("procedural", seed=0)
    with HeapSimulator(SceneConfig()) as sim:
        scenes = [
            sim.simulate([lib.load(s) for s in lib.specs[8 * h : 8 * h + 8]], np.random.default_rng(h), "bin")
            for h in range(heaps)
        ]
    cam = camera_preset("sim2real", width=width, height=height)
    result = {}
    for backend in ("pyrender", "tiny"):
        renderer = make_renderer(width, height, backend)
        plain = full = 0.0
        for h, heap in enumerate(scenes):
            renderer.set_heap(heap)
            rng = np.random.default_rng(h)
            for _ in range(views):
                view = sample_view(cam, rng, np.zeros(3))
                t0 = time.perf_counter()
                renderer.render(view, amodal=False)
                t1 = time.perf_counter()
                renderer.render(view, amodal=True)
                plain += t1 - t0
                full += time.perf_counter() - t1
        renderer.close()
        n = heaps * views
        result[backend] = (1000 * plain / n, 1000 * full / n)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--height", type=int, default=384)
    parser.add_argument("--objects", default="procedural")
    parser.add_argument(
        "--camera", default="sim2real", choices=["paper", "sim2real", "sim2real_clutter"], help="preset"
    )
    parser.add_argument("--skip-renderers", action="store_true")
    args = parser.parse_args()
    values = {  # the preset brings its scene mix (paper: bin only)
        "preset": args.camera,
        "camera": {"width": args.width, "height": args.height},
        "objects": {"source": args.objects},
    }
    print(
        f"# sdmr-generate speed, {args.width}×{args.height}, modal + amodal masks on disk, "
        f"{args.camera} preset, {args.objects} objects, {os.cpu_count()} CPU cores"
    )
    print(
        f"peer: paper generator {PAPER_IMAGES_PER_S_PER_CORE:.3f} images/s per core (50k images / 26 h / 4 cores)"
    )
    print(
        "| workers | images/s | images/s per core | × paper | load avg before | MB written "
        "| images with a touching pair | touching pairs per image | images with a stacked object |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for w in args.workers:
        r = bench_generate(args.images, w, values)
        print(
            f"| {w} | {r['images_per_s']:.2f} | {r['per_core']:.2f} | "
            f"{r['per_core'] / PAPER_IMAGES_PER_S_PER_CORE:.0f}× | {r['load_before']:.1f} | {r['mb']:.0f} "
            f"| {r['touching_share']:.0%} | {r['touching_mean']:.2f} | {r['stacked_share']:.0%} |"
        )
    if not args.skip_renderers:
        print(f"\n# renderers, ms per image at {args.width}×{args.height} (8-object bin heaps)")
        print("| renderer | depth + modal | + amodal masks | ratio to pyrender |")
        print("|---|---|---|---|")
        res = bench_renderers(args.width, args.height)
        base = res["pyrender"][1]
        for name, (plain, full) in res.items():
            print(f"| {name} | {plain:.1f} | {full:.1f} | {full / base:.1f}× |")


if __name__ == "__main__":
    main()
