"""Images/s of `DepthDataModule` (2 workers) against plain PIL + numpy loading of the same files.

The peer reads depth PNG + label PNG with PIL, scales depth, splits labels into masks,
in one process: what a user's hand-written loop would do. Both produce model-ready
tensors for the same images; the ratio is printed.

    python benchmarks/dataloader.py [--root DIR] [--images 200] [--size 384x512]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from sdmr.data.datamodule import DepthDataModule
from sdmr.data.toy import make_toy_dataset


def plain_pil_numpy(root: Path, indices: np.ndarray) -> int:
    """The peer: PIL + numpy, no framework."""
    count = 0
    for i in indices:
        depth8 = np.asarray(Image.open(root / "depth_ims" / f"image_{i:06d}.png"))[..., 0]
        depth = 0.25 + depth8.astype(np.float32) / 255.0
        label = np.asarray(Image.open(root / "modal_segmasks" / f"image_{i:06d}.png"))
        ids = np.unique(label)[1:]
        masks = torch.from_numpy((label[None] == ids[:, None, None]).astype(np.uint8))
        image = torch.from_numpy(np.clip(depth - 0.25, 0, 1)).expand(3, -1, -1).contiguous()
        count += int(image.shape[0] > 0 and masks.ndim == 3)
    return count


def ours(root: Path, workers: int, batch_size: int) -> tuple[int, float, float]:
    """Images per epoch, seconds of the first epoch (worker start-up included) and of the second."""
    module = DepthDataModule(
        str(root), num_workers=workers, batch_size=batch_size, pad_to=None, flips=True, train_split="train"
    )
    module.setup("fit")
    loader = module.train_dataloader()  # persistent workers: the second epoch reuses them
    seconds = []
    for _epoch in range(2):
        start = time.perf_counter()
        count = sum(len(images) for images, _targets in loader)
        seconds.append(time.perf_counter() - start)
    return count, seconds[0], seconds[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, help="an existing dataset (default: a toy one made in a temp dir)")
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--size", default="384x512", help="HxW of the toy images")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.root
        if root is None:
            height, width = (int(v) for v in args.size.split("x"))
            root = make_toy_dataset(Path(tmp) / "toy", num_images=args.images, height=height, width=width,
                                    seed=0, test_fraction=0.0)
        indices = np.load(root / "train_indices.npy")
        start = time.perf_counter()
        n_plain = plain_pil_numpy(root, indices)
        plain_s = time.perf_counter() - start
        n_ours, first_s, steady_s = ours(root, args.workers, args.batch_size)
    print(f"plain PIL+numpy (1 process): {n_plain / plain_s:8.1f} images/s  ({n_plain} images)")
    print(f"DepthDataModule ({args.workers} workers): {n_ours / steady_s:8.1f} images/s steady state, "
          f"{n_ours / first_s:.1f} images/s in the first epoch (worker start-up included)")
    print("  (ours also reads lossless float depth, fills invalid pixels, encodes, flips and builds boxes)")
    ours_s = steady_s
    print(f"ratio ours / plain: {(n_ours / ours_s) / (n_plain / plain_s):.2f}x")


if __name__ == "__main__":
    main()
