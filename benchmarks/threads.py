#!/usr/bin/env python
"""Threads under contention: a training step and one image's inference at 1 and 2 threads, idle and loaded.

Why: a compute pool as wide as the machine waits at every operator for its slowest thread, so one
other busy process on one core can slow it several-fold (issue 14: 2 torch threads ran a training
step at 5.7–10 s against 1.2 s with 1). This measures what ``SDMR_THREADS`` (``sdmr.threads``) should
default to. Each cell runs in a fresh process (a thread pool is sized once per process); "loaded" adds
``--busy`` busy-loop processes beside it. Printed: median seconds after a warm-up, per cell.

    python benchmarks/threads.py [--steps 5] [--busy 1] [--backends torch,openvino]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import tempfile
import time


def busy_loop() -> None:
    while True:
        pass


def train_steps(threads: int, steps: int, queue) -> None:
    """Plain torch training steps of the default ResNet-35 model, batch 2 of 256×192 toy images."""
    import torch

    from sdmr.data.datamodule import DetectionDataset
    from sdmr.data.toy import make_toy_dataset
    from sdmr.data.wisdom import WisdomDataset
    from sdmr.model.builder import build_sdmask_rcnn

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    root = make_toy_dataset(tempfile.mkdtemp() + "/toy", num_images=2, height=192, width=256, seed=0)
    data = DetectionDataset(WisdomDataset(root, split=None), "median_relative")
    images, targets = zip(*(data[i] for i in range(2)), strict=True)
    model = build_sdmask_rcnn(anchor_sizes=[16, 32, 64, 128, 256], box_batch_size_per_image=64).train()
    optimiser = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)
    times = []
    for _ in range(steps + 1):
        tic = time.perf_counter()
        loss = sum(model(list(images), list(targets)).values())
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        times.append(time.perf_counter() - tic)
    queue.put(statistics.median(times[1:]))


def inference(threads: int, steps: int, backend: str, folder: str | None, queue) -> None:
    """``Segmenter.segment`` of one generated 512×384 toy scene, ``backend`` at ``threads``."""
    from sdmr.data.toy import make_toy_dataset
    from sdmr.data.wisdom import WisdomDataset
    from sdmr.model.inference import Segmenter

    root = make_toy_dataset(tempfile.mkdtemp() + "/toy", num_images=1, height=384, width=512, seed=1)
    depth = WisdomDataset(root, split=None)[0]["depth"]
    source = folder if backend != "torch" else None
    seg = (Segmenter(source, backend=backend, num_threads=threads, input_scale=1.0) if source
           else Segmenter.default(num_threads=threads, input_scale=1.0))
    times = []
    for _ in range(steps + 1):
        tic = time.perf_counter()
        seg.segment(depth)
        times.append(time.perf_counter() - tic)
    queue.put(statistics.median(times[1:]))


def cell(ctx, target, args) -> float:
    queue = ctx.Queue()
    child = ctx.Process(target=target, args=(*args, queue))
    child.start()
    value = queue.get()
    child.join()
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--busy", type=int, default=1, help="busy processes in the loaded cells")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--backends", default="torch,openvino", help="inference backends (export made once)")
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    backends = args.backends.split(",")
    folder = None
    if any(b != "torch" for b in backends):
        from sdmr.export.onnx_export import export_onnx
        from sdmr.model.bundled import bundled_model_path

        folder = tempfile.mkdtemp() + "/export"
        export_onnx(bundled_model_path(), folder, openvino="openvino" in backends)
    rows = []
    for load in (0, args.busy):
        busy = [ctx.Process(target=busy_loop, daemon=True) for _ in range(load)]
        for p in busy:
            p.start()
        try:
            for threads in map(int, args.threads.split(",")):
                row = {"busy": load, "threads": threads, "loadavg": round(os.getloadavg()[0], 1),
                       "train_step_s": cell(ctx, train_steps, (threads, args.steps))}
                for backend in backends:
                    row[f"{backend}_s"] = cell(ctx, inference, (threads, args.steps, backend, folder))
                rows.append(row)
                print(json.dumps(row), flush=True)
        finally:
            for p in busy:
                p.terminate()
    keys = [k for k in rows[0] if k.endswith("_s")]
    print("\n| busy processes beside | threads | load average | " + " | ".join(keys) + " |")
    print("|---" * (3 + len(keys)) + "|")
    for r in rows:
        print(f"| {r['busy']} | {r['threads']} | {r['loadavg']} | " + " | ".join(f"{r[k]:.2f}" for k in keys) + " |")


if __name__ == "__main__":
    main()
