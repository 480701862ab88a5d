#!/usr/bin/env python
"""Seconds per training step: our LightningModule through a Trainer vs a plain torchvision loop.

Same model (same seed, same initial weights), same batch, same optimiser, lr schedule and
gradient clipping; the only difference is Lightning's machinery (logging, hooks, loop state).
The Lightning step time is the interval between consecutive batch starts, so it includes data
fetching and logging. The two loops alternate (twice each) and the ratio uses the fastest step
of each, which is robust to other processes on a shared machine. Goal: overhead ≤ 5 %.

    python benchmarks/train_step.py [--steps 12] [--warmup 3] [--height 192 --width 256]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from functools import partial

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from sdmr.data.datamodule import DetectionDataset, collate_detection
from sdmr.data.toy import make_toy_dataset
from sdmr.data.wisdom import WisdomDataset
from sdmr.model.builder import build_sdmask_rcnn
from sdmr.model.lightning_module import SDMaskRCNNModule
from sdmr.model.schedule import warmup_schedule

MODEL_KWARGS = {"anchor_sizes": [16, 32, 64, 128, 256], "box_batch_size_per_image": 64}


class RepeatBatch(Dataset):
    """The same two images forever, so both loops see identical work."""

    def __init__(self, items: list, length: int) -> None:
        self.items, self.length = items, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int):
        return self.items[index % len(self.items)]


def fixed_batch(height: int, width: int, batch_size: int) -> list:
    root = make_toy_dataset(
        tempfile.mkdtemp(prefix="bench_"), num_images=batch_size * 2, height=height, width=width
    )
    data = DetectionDataset(WisdomDataset(root, split=None), "median_relative")
    return [data[i] for i in range(batch_size)]


def plain_loop(items: list, steps: int, warmup: int) -> list[float]:
    torch.manual_seed(0)
    model = build_sdmask_rcnn(**MODEL_KWARGS).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    scheduler = warmup_schedule(optimizer, total_steps=steps + warmup)
    images, targets = collate_detection(items)
    times = []
    for _ in range(steps + warmup):
        start = time.perf_counter()
        loss = sum(model(images, targets).values())
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimizer.step()
        scheduler.step()
        times.append(time.perf_counter() - start)
    return times[warmup:]


class StepTimer(pl.Callback):
    def __init__(self) -> None:
        self.starts: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.starts.append(time.perf_counter())

    def on_train_end(self, trainer, pl_module) -> None:
        self.starts.append(time.perf_counter())


def lightning_loop(items: list, steps: int, warmup: int) -> list[float]:
    torch.manual_seed(0)
    module = SDMaskRCNNModule(
        MODEL_KWARGS,
        optimizer=partial(torch.optim.SGD, lr=0.01, momentum=0.9, weight_decay=1e-4),
        scheduler=warmup_schedule,
    )
    timer = StepTimer()
    loader = DataLoader(
        RepeatBatch(items, len(items) * (steps + warmup)), batch_size=len(items), collate_fn=collate_detection
    )
    with tempfile.TemporaryDirectory() as out:
        trainer = pl.Trainer(
            accelerator="cpu",
            devices=1,
            max_steps=steps + warmup,
            gradient_clip_val=10.0,
            logger=pl.loggers.CSVLogger(out),
            log_every_n_steps=1,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=out,
            callbacks=[timer],
        )
        trainer.fit(module, train_dataloaders=loader)
    starts = timer.starts
    return [b - a for a, b in zip(starts[warmup:-1], starts[warmup + 1 :], strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--height", type=int, default=192)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    items = fixed_batch(args.height, args.width, args.batch_size)
    # Interleave the two runs so machine-load drift hits both alike.
    plain, ours = [], []
    for _ in range(2):
        plain += plain_loop(items, args.steps // 2, args.warmup)
        ours += lightning_loop(items, args.steps // 2, args.warmup)
    # min is the contention-robust statistic on a shared machine; median shown for context
    p, o = min(plain), min(ours)
    print(
        f"images {args.batch_size}×{args.height}×{args.width}, {torch.get_num_threads()} threads, "
        f"{len(plain)} timed steps each (after {args.warmup} warm-up)"
    )
    print(f"plain torchvision loop : {p:.3f} s/step (min; median {statistics.median(plain):.3f})")
    print(f"sdmr Lightning Trainer : {o:.3f} s/step (min; median {statistics.median(ours):.3f})")
    print(f"ratio ours/plain       : {o / p:.3f}  (overhead {100 * (o / p - 1):+.1f} %, goal ≤ +5 %)")


if __name__ == "__main__":
    main()
