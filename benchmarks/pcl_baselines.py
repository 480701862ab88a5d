"""Seconds per image of the point-cloud baselines, pip backend vs the real PCL 1.13 library, side by side.

Both backends get the same foreground clouds (one background removal per image, timed apart),
so the columns compare only the clustering: ``euclidean_clustering`` (paper low-res preset:
4 mm, 450 points) and ``region_growing`` (tabletop preset: normals from 50 neighbours, 15 for
growing, 0.3 rad, curvature 0.05, 450 points). Clouds: ``--images`` analytic 512×384 tabletop
scenes (``sdmr.data.toy``, 0.7–0.9 m, bin masks not used) and the OCID dev frames (640×480,
fx = fy = 615) when ``--ocid`` exists. The pcl column appears when the binding is built; otherwise
the reason is printed. Also times the region-growing loop compiled by numba against the same
loop interpreted by Python (the choice made in ``sdmr.pointcloud.region_growing``).

Each image runs ``--repeats`` times and the fastest counts (the machine may be shared).

    python benchmarks/pcl_baselines.py [--images 8] [--repeats 3] [--ocid ../shared/samples/ocid_dev]
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sdmr_baselines.euclidean_clustering import EuclideanClustering
from sdmr_baselines.region_growing import RegionGrowing

from sdmr.data.intrinsics import CameraIntrinsics
from sdmr.data.toy import render_toy_scene
from sdmr.pointcloud.backends import pcl_available
from sdmr.pointcloud.camera import PointCloudWarning
from sdmr.pointcloud.neighbours import knn
from sdmr.pointcloud.normals import estimate_normals
from sdmr.pointcloud.region_growing import grow_regions_kernel, grow_regions_python

OCID_CAMERA = CameraIntrinsics(615.0, 615.0, 320.0, 240.0, 640, 480)


def fastest(fn: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def load_samples(images: int, ocid: Path | None) -> dict[str, list[dict]]:
    rng = np.random.default_rng(0)
    sets = {"toy 512×384": [render_toy_scene(rng, 384, 512, max_objects=6) for _ in range(images)]}
    for sample in sets["toy 512×384"]:
        sample.pop("bin_mask")  # the toy bin mask is the ground truth: remove the support by its plane
    if ocid is not None and ocid.is_dir():
        from sdmr.data.ocid import OcidDataset

        sets["OCID 640×480"] = list(OcidDataset(ocid, intrinsics=OCID_CAMERA))
    return sets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ocid", type=Path, default=Path(__file__).resolve().parents[2] / "shared/samples/ocid_dev")
    args = parser.parse_args()
    warnings.simplefilter("ignore", PointCloudWarning)
    has_pcl, why = pcl_available()
    backends = ["pip", "pcl"] if has_pcl else ["pip"]
    if not has_pcl:
        print(f"pcl column skipped: {why}")
    methods = {"euclidean_clustering": lambda b: EuclideanClustering(preset="paper_lowres", backend=b),
               "region_growing": lambda b: RegionGrowing(preset="tabletop", backend=b)}
    kernel = grow_regions_kernel()
    warm = RegionGrowing(preset="tabletop")
    warm.cluster(np.random.default_rng(0).normal(size=(100, 3)))  # numba compiles here, not in a timing

    print("| clouds | points (mean) | background s | method | " + " | ".join(f"{b} s" for b in backends)
          + (" | pip / pcl |" if has_pcl else " |"))
    print("|---|---|---|---|" + "---|" * len(backends) + ("---|" if has_pcl else ""))
    loop_rows = []
    for label, samples in load_samples(args.images, args.ocid).items():
        fgs = [warm.foreground(s) for s in samples]
        background = np.mean([fastest(lambda s=s: warm.foreground(s), args.repeats) for s in samples])
        clouds = [fg.points for fg in fgs if fg.reason is None]
        for name, make in methods.items():
            times = {}
            for backend in backends:
                method = make(backend)
                times[backend] = np.mean([fastest(lambda c=c, m=method: m.cluster(c), args.repeats) for c in clouds])
            ratio = f" | {times['pip'] / times['pcl']:.2f} |" if has_pcl else " |"
            print(f"| {label} | {np.mean([len(c) for c in clouds]):.0f} | {background:.3f} | {name} | "
                  + " | ".join(f"{times[b]:.3f}" for b in backends) + ratio)
        cloud = max(clouds, key=len)
        normals, curvature = estimate_normals(cloud, 50)
        neighbours = knn(cloud, 15)
        order = np.argsort(curvature, kind="stable")
        loop_args = (order, neighbours, normals.astype(np.float64), curvature.astype(np.float64), np.cos(0.3), 0.05, True)
        loop_rows.append((label, len(cloud), fastest(lambda a=loop_args: kernel(*a), args.repeats),
                          fastest(lambda a=loop_args: grow_regions_python(*a), 1)))
    print("\nregion-growing loop alone (largest cloud of each set): numba vs interpreted Python")
    for label, n, compiled, interpreted in loop_rows:
        print(f"  {label}, {n} points: numba {compiled * 1e3:.1f} ms, Python {interpreted * 1e3:.0f} ms "
              f"({interpreted / compiled:.0f}× slower)")


if __name__ == "__main__":
    main()
