#!/usr/bin/env python
"""Seconds per image: our ``Segmenter`` vs plain torchvision ``MaskRCNN`` with the same weights, 512×384.

Peer: torchvision's ``MaskRCNN`` with its default post-processing (1000 post-NMS proposals,
score threshold 0.05, box NMS 0.5), ``min_size``/``max_size`` set to the image so it does not
upscale, under ``torch.no_grad``. Ours: ``Segmenter`` (``inference_mode``; the score threshold is
applied inside the detector, so the mask head only runs on detections that are kept), with the
checkpoint's settings and with fewer proposals / channels-last / an int8 box head as variants.

Printed per setting: s/image (fastest of the timed images: robust to other processes on a
shared machine), detections/image, COCO mask AP/AR against the images' labels, and the ratio to
the peer. Then two agreement checks:

* exactness — the peer given *our* post-processing vs ``Segmenter``: confident detections must
  be identical (mask IoU ≥ 0.99, score difference ≤ 1e-4), i.e. the speed-ups cost nothing;
* vs torchvision defaults — share of the peer's detections ≥ threshold that ours also finds
  (mask IoU ≥ 0.5); the differences come from NMS 0.35 vs 0.5 and the proposal count.

    python benchmarks/inference.py --checkpoint RUN/checkpoints/last.ckpt --data DIR_512x384 [--images 12]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable

import numpy as np
import torch
from torchvision.models.detection import MaskRCNN

from sdmr.bench.metrics import coco_segm_metrics
from sdmr.data.input_spec import InputSpec
from sdmr.data.instances import Instances
from sdmr.data.toy import make_toy_dataset
from sdmr.data.wisdom import WisdomDataset
from sdmr.model.builder import build_sdmask_rcnn
from sdmr.model.checkpoint import build_from_file, export_model
from sdmr.model.inference import Segmenter, detections_to_instances


def peer_model(checkpoint: str, **settings) -> tuple[MaskRCNN, InputSpec, dict]:
    """torchvision MaskRCNN with torchvision defaults (unless overridden) and our weights.

    Also returns the checkpoint's input encoding and builder arguments (our settings).
    """
    ours, encoding, info = build_from_file(checkpoint)
    kwargs = info.model_kwargs
    model = MaskRCNN(
        ours.backbone,
        num_classes=kwargs.get("num_classes", 2),
        rpn_anchor_generator=ours.rpn.anchor_generator,
        image_mean=kwargs.get("image_mean", [0.5] * 3),
        image_std=kwargs.get("image_std", [0.25] * 3),
        min_size=384,
        max_size=512,
        **settings,
    )
    model.load_state_dict(ours.state_dict())
    return model.eval(), encoding, kwargs


def peer_segment(model: MaskRCNN, encoding: InputSpec) -> Callable[[np.ndarray], Instances]:
    @torch.no_grad()
    def run(depth: np.ndarray) -> Instances:
        return detections_to_instances(model([encoding.encode(depth)])[0], 0.0)

    return run


def time_per_image(fn: Callable[[np.ndarray], Instances], depths: list[np.ndarray]) -> tuple[float, list]:
    fn(depths[0])  # warm-up
    times, outputs = [], []
    for depth in depths:
        start = time.perf_counter()
        outputs.append(fn(depth))
        times.append(time.perf_counter() - start)
    return min(times), outputs


def match_count(reference: Instances, other: Instances, iou: float) -> int:
    """How many reference masks have a partner in ``other`` with mask IoU ≥ ``iou``."""
    if len(reference) == 0 or len(other) == 0:
        return 0
    a = reference.masks.reshape(len(reference), -1).astype(np.float32)
    b = other.masks.reshape(len(other), -1).astype(np.float32)
    inter = a @ b.T
    union = a.sum(1)[:, None] + b.sum(1)[None, :] - inter
    return int(((inter / np.maximum(union, 1)).max(axis=1) >= iou).sum())


def load_images(args: argparse.Namespace, tmp: str) -> list[dict]:
    if args.data:
        data = WisdomDataset(args.data, split=None)
    else:
        root = make_toy_dataset(f"{tmp}/data", num_images=args.images, height=384, width=512, seed=1)
        data = WisdomDataset(root, split=None)
    return [data[i] for i in range(min(args.images, len(data)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", help="trained .ckpt (default: random weights, for a smoke run only)")
    parser.add_argument("--data", help="WISDOM-layout dataset of 512×384 images (default: toy scenes)")
    parser.add_argument("--images", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--score-threshold", type=float, default=0.5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tmp = tempfile.mkdtemp(prefix="bench_inf_")
    checkpoint = args.checkpoint
    if checkpoint is None:
        torch.manual_seed(0)
        checkpoint = f"{tmp}/random.pt"
        export_model(build_sdmask_rcnn(), {}, "median_relative", checkpoint)
        print("no --checkpoint: random weights (detection counts are not those of a trained model)")
    samples = load_images(args, tmp)
    depths = [s["depth"] for s in samples]
    truth = [s["instances"] for s in samples]
    thr = args.score_threshold
    peer, encoding, kw = peer_model(checkpoint)

    settings: dict[str, Callable[[np.ndarray], Instances]] = {
        "plain torchvision MaskRCNN (defaults)": peer_segment(peer, encoding),
        "sdmr Segmenter (checkpoint settings)": Segmenter(checkpoint, thr).segment,
        "sdmr Segmenter, 1000 proposals": Segmenter(checkpoint, thr, num_proposals=1000).segment,
        "sdmr Segmenter, 500 proposals": Segmenter(checkpoint, thr, num_proposals=500).segment,
        "sdmr Segmenter, channels-last": Segmenter(checkpoint, thr, channels_last=True).segment,
        "sdmr Segmenter, int8 box head": Segmenter(checkpoint, thr, int8_box_head=True).segment,
        "sdmr Segmenter, all three (500, NHWC, int8)": Segmenter(
            checkpoint, thr, num_proposals=500, channels_last=True, int8_box_head=True
        ).segment,
    }
    shape = depths[0].shape
    print(
        f"{len(depths)} images {shape[0]}×{shape[1]}, {torch.get_num_threads()} threads, score threshold {thr}"
    )
    results = {}
    for name, fn in settings.items():
        seconds, outputs = time_per_image(fn, depths)
        results[name] = (seconds, outputs)
        metrics = coco_segm_metrics(truth, outputs)
        ratio = seconds / results["plain torchvision MaskRCNN (defaults)"][0]
        print(
            f"{name:<44} {seconds:6.3f} s/image  {np.mean([len(o) for o in outputs]):5.1f} det/image  "
            f"AP {metrics['AP']:.3f}  AR {metrics['AR']:.3f}  ratio {ratio:.3f}"
        )

    ours_out = results["sdmr Segmenter (checkpoint settings)"][1]
    same, _, _ = peer_model(
        checkpoint,
        rpn_pre_nms_top_n_test=kw.get("rpn_pre_nms_top_n_test", 1000),
        rpn_post_nms_top_n_test=kw.get("rpn_post_nms_top_n_test", 2000),
        box_nms_thresh=kw.get("box_nms_thresh", 0.35),
        box_detections_per_img=kw.get("box_detections_per_img", 100),
    )
    run_same = peer_segment(same, encoding)
    exact = total = 0
    score_diff = 0.0
    for depth, ours in zip(depths, ours_out, strict=True):
        ref = run_same(depth)
        ref = ref.select(np.flatnonzero(ref.scores >= thr))
        exact, total = exact + match_count(ref, ours, 0.99), total + len(ref)
        same_count = len(ref) == len(ours)
        score_diff = max(
            score_diff, float(np.abs(ref.scores - ours.scores).max()) if same_count and len(ref) else 0.0
        )
        score_diff = score_diff if same_count else float("inf")
    print(
        f"exactness vs the peer with our settings: {exact}/{total} confident detections identical "
        f"(mask IoU ≥ 0.99), max score difference {score_diff:.1e}"
    )
    found = confident = 0
    for ours, theirs in zip(ours_out, results["plain torchvision MaskRCNN (defaults)"][1], strict=True):
        kept = theirs.select(np.flatnonzero(theirs.scores >= thr))
        found, confident = found + match_count(kept, ours, 0.5), confident + len(kept)
    print(
        f"agreement vs torchvision defaults: {found}/{confident} of its detections ≥ {thr} found by ours (IoU ≥ 0.5)"
    )


if __name__ == "__main__":
    main()
