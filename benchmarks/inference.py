#!/usr/bin/env python
"""Seconds per image, peak memory and AP: plain torchvision vs sdmr's torch default vs each export backend.

Every path segments the same images in one run: a fixed synthetic test set (generated 512×384 scenes,
seed 1000: objects no training run saw) and the real ``../shared/samples/ocid_dev`` frames (640×480,
``input_scale`` auto from ``conf/cameras/ocid_kinect.intr``), with the same thread count. Time =
``Segmenter.segment`` per image (encode, detector, post-processing), the median over the images after
one warm-up image; the paths take turns image by image, so a shared machine's load falls on all alike.
Peak memory: each path alone in a freshly spawned process (``VmHWM``, and its rise over the imports).

Peer: torchvision's ``MaskRCNN`` with its default post-processing (1000 post-NMS proposals, score
≥ 0.05, box NMS 0.5, every detection kept, no geometric stage), the same weights and the same
normalise-and-pad transform (no resize), fed the same encoded input. Paths (``--paths``):

* ``torchvision``            the peer;
* ``torch``                  ``Segmenter`` defaults (what ``sdmr-segment`` runs);
* ``onnxruntime``, ``openvino`` the ``sdmr-export`` of the same checkpoint and settings (float32);
* modifiers, joined by ``-`` to any sdmr path: ``p300`` (post-NMS proposals), ``thr0.3`` (the score
  threshold, below which no mask is computed), and for torch ``nhwc`` (channels-last), ``int8`` (int8 box
  head), ``compile`` (``torch.compile`` of the backbone, inductor on CPU); for openvino ``bf16``
  (OpenVINO's default precision on CPUs with AVX-512 BF16/AMX; changes outputs). E.g. ``openvino-p300``.

    python benchmarks/inference.py                      # the bundled model, 16 synthetic images + 4 OCID frames
    python benchmarks/inference.py --checkpoint CK --threads 1 --paths torchvision,torch,torch-p500-nhwc,openvino-p500
    python benchmarks/inference.py --busy 1             # the same with one busy process per --busy (a shared machine)
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_PATHS = "torchvision,torch,torch-p300,onnxruntime,openvino,onnxruntime-p300,openvino-p300"
SYNTH_SEED = 1000
OCID = Path(__file__).resolve().parents[1].parent / "shared" / "samples" / "ocid_dev"
OCID_CAMERA = Path(__file__).resolve().parents[1] / "conf" / "cameras" / "ocid_kinect.intr"


def variant(path: str) -> tuple[str, dict, set[str]]:
    """``"torch-p500-nhwc"`` → ``("torch", {"num_proposals": 500}, {"nhwc"})``: base, Segmenter settings, flags."""
    base, *tokens = path.split("-")
    settings, flags = {}, set()
    for token in tokens:
        if token.startswith("p") and token[1:].isdigit():
            settings["num_proposals"] = int(token[1:])
        elif token.startswith("thr"):
            settings["score_threshold"] = float(token[3:])
        else:
            flags.add(token)
    return base, settings, flags


def export_key(settings: dict) -> str:
    return f"p{settings.get('num_proposals', 'ckpt')}-thr{settings.get('score_threshold', 0.5)}"


def make_segmenter(path: str, checkpoint: str, exports: dict[str, str], threads: int, input_scale):
    """The ``Segmenter`` of one benchmark path (see the module docstring)."""
    import torch
    from torchvision.models.detection import MaskRCNN

    from sdmr.export.backends import OpenVinoBackend, TorchBackend
    from sdmr.model.inference import Segmenter

    common = {"num_threads": threads, "input_scale": input_scale}
    base, settings, flags = variant(path)
    if base == "torchvision":
        seg = Segmenter(checkpoint, score_threshold=0.0, trim_below_height=None, surface_ratio=None, **common)
        ours, kwargs = seg.model, seg.model_file.model_kwargs
        peer = MaskRCNN(ours.backbone, num_classes=kwargs.get("num_classes", 2),
                        rpn_anchor_generator=ours.rpn.anchor_generator)  # torchvision's defaults from here on
        peer.load_state_dict(ours.state_dict())
        peer.transform = ours.transform  # the same normalise-and-pad, no resize: the same input
        seg.model = peer.eval()
        seg.backend = TorchBackend(seg.model)
        return seg
    if base == "torch":
        seg = Segmenter(checkpoint, channels_last="nhwc" in flags, int8_box_head="int8" in flags, **common, **settings)
        if "compile" in flags:
            seg.model.backbone = torch.compile(seg.model.backbone, dynamic=True)
        return seg
    seg = Segmenter(exports[export_key(settings)], backend=base, score_threshold=settings.get("score_threshold", 0.5),
                    **common)
    if "bf16" in flags:
        seg.backend = OpenVinoBackend(seg.export.file("openvino"), threads, precision="bf16")
    return seg


def load_datasets(settings: dict) -> dict[str, tuple[list, object]]:
    """``{name: (samples, input_scale)}``: the synthetic test set, and the OCID frames when given."""
    from sdmr.data.catalog import open_dataset

    found = {"synthetic": (open_dataset("wisdom_sim", settings["synthetic"]), settings["input_scale"])}
    if settings["ocid"]:
        found["ocid"] = (open_dataset("ocid", settings["ocid"], intrinsics=str(OCID_CAMERA)), "auto")
    return {name: ([data[i] for i in range(min(settings["images"], len(data)))], scale)
            for name, (data, scale) in found.items()}


def vm_hwm_mb() -> float:
    """This process's peak resident memory (``VmHWM``; unlike ``ru_maxrss`` it does not survive ``exec``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_memory(path: str, settings: dict, exports: dict[str, str], queue) -> None:
    """In a fresh process: peak memory after imports, and after loading ``path`` and segmenting 2 images."""
    import torch

    import sdmr.model.inference  # noqa: F401 - the imports every path pays

    torch.set_num_threads(settings["threads"])
    datasets = load_datasets(dict(settings, images=2))
    before = vm_hwm_mb()
    for samples, scale in datasets.values():
        seg = make_segmenter(path, settings["checkpoint"], exports, settings["threads"], scale)
        for sample in samples:
            seg.segment(sample["depth"], sample.get("intrinsics"))
    queue.put({"imports_mb": before, "peak_mb": vm_hwm_mb()})


def run_paths(paths: list[str], settings: dict, exports: dict[str, str]) -> dict[str, dict]:
    """Every path on every image, interleaved (image 1 by each path, then image 2, ...), so the load
    of a shared machine falls on every path alike; seconds = median over images after a warm-up."""
    import numpy as np
    import torch

    from sdmr.evaluation.coco import coco_segm_metrics

    torch.set_num_threads(settings["threads"])
    results: dict[str, dict] = {p: {"path": p} for p in paths}
    for name, (samples, scale) in load_datasets(settings).items():
        segmenters = {p: make_segmenter(p, settings["checkpoint"], exports, settings["threads"], scale) for p in paths}
        times: dict[str, list[float]] = {p: [] for p in paths}
        outputs: dict[str, list] = {p: [] for p in paths}
        for seg in segmenters.values():  # warm-up (and compilation, for torch-compile)
            seg.segment(samples[0]["depth"], samples[0].get("intrinsics"))
        for sample in samples:
            for p, seg in segmenters.items():
                tic = time.perf_counter()
                outputs[p].append(seg.segment(sample["depth"], sample.get("intrinsics")))
                times[p].append(time.perf_counter() - tic)
        truth = [s["instances"] for s in samples]
        for p in paths:
            metrics = coco_segm_metrics(truth, outputs[p])
            results[p][name] = {"s_per_image": statistics.median(times[p]), "images": len(samples),
                                "detections": float(np.mean([len(o) for o in outputs[p]])),
                                "AP": metrics["AP"], "AR": metrics["AR"]}
        del segmenters
    return results


def export_models(checkpoint: str, folder: Path, paths: list[str]) -> dict[str, str]:
    """One ``sdmr-export`` per distinct (proposals, threshold) among the export paths."""
    from sdmr.export.onnx_export import export_onnx

    wanted: dict[str, tuple[dict, bool]] = {}
    for path in paths:
        base, settings, _ = variant(path)
        if base in ("onnxruntime", "openvino"):
            key = export_key(settings)
            wanted[key] = (settings, wanted.get(key, ({}, False))[1] or base == "openvino")
    exports = {}
    for key, (settings, openvino) in wanted.items():
        tic = time.perf_counter()
        export_onnx(checkpoint, folder / key, score_threshold=settings.get("score_threshold", 0.5),
                    num_proposals=settings.get("num_proposals"), openvino=openvino)
        print(f"exported {key} in {time.perf_counter() - tic:.0f} s", flush=True)
        exports[key] = str(folder / key)
    return exports


def synthetic_set(folder: Path, images: int) -> Path:
    root = folder / "synthetic512"
    subprocess.run([sys.executable, "-m", "sdmr.sim.cli", "--output", str(root), "--num-images", str(images),
                    "--seed", str(SYNTH_SEED), "--height", "384", "--width", "512", "--no-progress"],
                   check=True, stdout=subprocess.DEVNULL)
    return root


def busy_loop() -> None:
    while True:
        pass


def table(results: list[dict], datasets: list[str]) -> str:
    peer = next((r for r in results if r["path"] == "torchvision"), results[0])
    head = "| path | " + " | ".join(f"{d} s/image | ratio | det/image | AP" for d in datasets) + " | peak memory MB (over imports) |"
    lines = [head, "|---" * (head.count("|") - 1) + "|"]
    for r in results:
        cells = []
        for d in datasets:
            x = r[d]
            cells.append(f"{x['s_per_image']:.3f} | {x['s_per_image'] / peer[d]['s_per_image']:.2f} | "
                         f"{x['detections']:.1f} | {x['AP']:.3f}")
        lines.append(f"| {r['path']} | " + " | ".join(cells) + f" | {r['peak_mb']:.0f} ({r['peak_mb'] - r['imports_mb']:+.0f}) |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", help="model file (default: the bundled model)")
    parser.add_argument("--synthetic", "--data", help="WISDOM-layout test set (default: 16 generated 512×384 scenes, seed 1000)")
    parser.add_argument("--ocid", default=str(OCID) if OCID.is_dir() else None, help="OCID frames folder ('' = skip)")
    parser.add_argument("--images", type=int, default=16, help="images per dataset")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--input-scale", default="1.0", help="synthetic set: 1.0 (512×384 compute, default) or auto")
    parser.add_argument("--paths", default=DEFAULT_PATHS)
    parser.add_argument("--busy", type=int, default=0, help="busy-loop processes running beside (a loaded machine)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    from sdmr.model.bundled import bundled_model_path

    tmp = Path(tempfile.mkdtemp(prefix="bench_inf_"))
    checkpoint = args.checkpoint or str(bundled_model_path())
    paths = args.paths.split(",")
    synthetic = args.synthetic or str(synthetic_set(tmp, args.images))
    exports = export_models(checkpoint, tmp, paths)
    settings = {"checkpoint": checkpoint, "synthetic": synthetic, "ocid": args.ocid or None, "images": args.images,
                "threads": args.threads, "input_scale": args.input_scale if args.input_scale == "auto"
                else float(args.input_scale)}
    ctx = mp.get_context("spawn")
    busy = [ctx.Process(target=busy_loop, daemon=True) for _ in range(args.busy)]
    for p in busy:
        p.start()
    try:
        by_path = run_paths(paths, settings, exports)
    finally:
        for p in busy:
            p.terminate()
    load = os.getloadavg()[0]
    for path in paths:  # memory, one fresh process per path (after the timing: no process beside it)
        queue = ctx.Queue()
        child = ctx.Process(target=peak_memory, args=(path, settings, exports, queue))
        child.start()
        by_path[path].update(queue.get())
        child.join()
    results = list(by_path.values())
    print(json.dumps(results))
    datasets = ["synthetic"] + (["ocid"] if settings["ocid"] else [])
    print(f"\n{args.threads} threads, {args.busy} busy process(es) beside, load average {load:.1f}; "
          f"synthetic {args.images} images 512×384 at input scale {args.input_scale}; OCID at input scale auto")
    print(table(results, datasets))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
