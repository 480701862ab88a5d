"""Checkpoint → a deployable folder: ONNX (+ OpenVINO IR), its metadata and model card, verified.

The whole detector is one graph: normalisation and padding, backbone + FPN, RPN with its NMS,
RoIAlign, box and mask heads, the score threshold, box NMS and the pasting of masks into the image.
Image height and width are dynamic. The export uses torch's TorchScript exporter (``dynamo=False``),
the one torchvision's own Mask R-CNN ONNX tests use; the settings that decide which detections
exist (score threshold, proposals, detections per image) are baked into the graph and recorded.

After export, torch and the exported runtime segment the same inputs (synthetic scenes of two
sizes, encoded by the model's own input encoding) and must agree within :data:`TOLERANCES`,
else nothing is written. The folder (:mod:`sdmr.export.backends` reads it)::

    model.onnx            the detector (input ``image`` float32 3×H×W in [0, 1]; outputs boxes, scores, masks)
    model.xml, model.bin  the same for OpenVINO (only where the ``openvino`` package is installed)
    model.json            input spec, training focal length, baked settings, opset, versions, sha256s,
                          the verification's measured differences, the source model card
    MODEL_CARD.md         the same for people
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
import warnings
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from sdmr import __version__
from sdmr.data.atomic import atomic_write_text
from sdmr.data.errors import DataError
from sdmr.errors import ConfigError, OutputError
from sdmr.export.backends import (
    CARD_FILE,
    EXPORT_FORMAT,
    EXPORT_VERSION,
    META_FILE,
    ONNX_FILE,
    OPENVINO_FILES,
    Backend,
    OnnxRuntimeBackend,
    OpenVinoBackend,
    TorchBackend,
    sha256_file,
)
from sdmr.model.checkpoint import TRAIN_FOCAL_KEY

DEFAULT_OPSET = 17
#: Verification image sizes (H, W): two aspect ratios, neither a multiple of the other, one not /32.
VERIFY_SIZES = ((384, 512), (250, 330))
#: How close the exported runtime must stay to torch on the same input (float32 both sides).
#: Detections are matched by box IoU ≥ ``match_iou``; one present on one side only is allowed only
#: within ``borderline_score`` of the score threshold (a score rounding across it).
TOLERANCES = {"box_px": 0.1, "score": 1e-3, "mask_prob": 0.02, "match_iou": 0.9, "borderline_score": 5e-3}
OUTPUT_NAMES = ["boxes", "scores", "masks"]


class DetectorForExport(nn.Module):
    """torchvision's list-of-images Mask R-CNN as one image in, three tensors out (labels are all 1)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        output = self.model([image])[0]
        return output["boxes"], output["scores"], output["masks"]


def verification_depths(sizes: tuple[tuple[int, int], ...] = VERIFY_SIZES, seed: int = 0) -> list[np.ndarray]:
    """Synthetic depth frames (metres): a tilted table at ~0.9 m with boxes and cylinders on it, and
    a few invalid pixels, so a trained model finds objects and the mask head runs."""
    rng = np.random.default_rng(seed)
    frames = []
    for height, width in sizes:
        rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
        depth = 0.9 + 0.15 * rows / height
        for _ in range(6):
            cy, cx = rng.uniform(0.15, 0.85) * height, rng.uniform(0.15, 0.85) * width
            ry, rx = rng.uniform(0.04, 0.12) * height, rng.uniform(0.04, 0.12) * width
            inside = ((rows - cy) / ry) ** 2 + ((cols - cx) / rx) ** 2 <= 1 if rng.random() < 0.5 else (
                (abs(rows - cy) <= ry) & (abs(cols - cx) <= rx))
            depth = np.where(inside, depth - rng.uniform(0.03, 0.12), depth)
        depth = depth + rng.normal(0, 0.001, depth.shape)
        depth[rng.random(depth.shape) < 0.005] = 0.0
        frames.append(depth.astype(np.float32))
    return frames


def _box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt, rb = np.maximum(a[:, None, :2], b[None, :, :2]), np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])
    return inter / np.maximum(area(a)[:, None] + area(b)[None] - inter, 1e-9)


def compare_outputs(
    reference: dict[str, torch.Tensor], other: dict[str, torch.Tensor], score_threshold: float,
    tolerances: dict[str, float] = TOLERANCES,
) -> dict[str, Any]:
    """Differences between two detector outputs on one image, and whether they are within ``tolerances``."""
    ref = {k: v.detach().float().cpu().numpy() for k, v in reference.items()}
    out = {k: v.detach().float().cpu().numpy() for k, v in other.items()}
    iou = _box_iou(ref["boxes"], out["boxes"]) if len(ref["boxes"]) and len(out["boxes"]) else np.zeros((0, 0))
    pairs, taken = [], set()
    for i in range(len(ref["boxes"])):
        order = [j for j in np.argsort(-iou[i]) if j not in taken and iou[i, j] >= tolerances["match_iou"]] \
            if iou.size else []
        if order:
            pairs.append((i, int(order[0])))
            taken.add(int(order[0]))
    matched_ref = {i for i, _ in pairs}
    unmatched = [float(ref["scores"][i]) for i in range(len(ref["scores"])) if i not in matched_ref]
    unmatched += [float(out["scores"][j]) for j in range(len(out["scores"])) if j not in taken]
    report: dict[str, Any] = {
        "detections": [len(ref["scores"]), len(out["scores"])],
        "matched": len(pairs),
        "unmatched_scores": [round(s, 4) for s in unmatched],
        "box_px": max((float(np.abs(ref["boxes"][i] - out["boxes"][j]).max()) for i, j in pairs), default=0.0),
        "score": max((float(abs(ref["scores"][i] - out["scores"][j])) for i, j in pairs), default=0.0),
        "mask_prob": max((float(np.abs(ref["masks"][i] - out["masks"][j]).max()) for i, j in pairs), default=0.0),
    }
    failures = [f"{k} {report[k]:.3g} > {tolerances[k]:g}" for k in ("box_px", "score", "mask_prob")
                if report[k] > tolerances[k]]
    if any(s > score_threshold + tolerances["borderline_score"] for s in unmatched):
        failures.append(f"detections on one side only, with scores {report['unmatched_scores']}")
    report["ok"] = not failures
    report["failures"] = failures
    return report


def verify(
    torch_backend: Backend, exported: Backend, images: list[torch.Tensor], score_threshold: float,
    tolerances: dict[str, float] = TOLERANCES,
) -> list[dict[str, Any]]:
    """:func:`compare_outputs` of both backends on each image (its size added to each report)."""
    reports = []
    with torch.inference_mode():
        for image in images:
            report = compare_outputs(torch_backend.forward(image), exported.forward(image), score_threshold, tolerances)
            reports.append({"size": list(image.shape[-2:]), **report})
    return reports


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "sdmr": __version__}
    for package in ("torch", "torchvision", "onnx", "onnxruntime", "openvino"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return versions


def _export_graph(model: nn.Module, example: torch.Tensor, path: Path, opset: int) -> None:
    """``torch.onnx.export`` with the TorchScript exporter, dynamic H and W, quiet about tracing."""
    dynamic = {"image": {1: "height", 2: "width"}, "boxes": {0: "detections"}, "scores": {0: "detections"},
               "masks": {0: "detections", 2: "height", 3: "width"}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TracerWarnings of torchvision's Python control flow, exporter deprecations
        torch.onnx.export(DetectorForExport(model).eval(), (example,), str(path), dynamo=False, opset_version=opset,
                          input_names=["image"], output_names=OUTPUT_NAMES, dynamic_axes=dynamic,
                          do_constant_folding=True)


def _openvino_ir(onnx_path: Path, folder: Path) -> None:
    import openvino as ov

    ov.save_model(ov.convert_model(str(onnx_path)), str(folder / OPENVINO_FILES[0]), compress_to_fp16=False)


def _input_description(model_file: Any) -> dict[str, Any]:
    """What the model reads, as the checkpoint stores it: the spec dict and the bare encoding name."""
    spec = getattr(model_file, "input_spec", None)
    if spec is not None:
        return {"input_spec": spec.to_dict(), "input_encoding": spec.encoding}
    return {"input_encoding": model_file.input_encoding}


def render_card(meta: dict[str, Any]) -> str:
    """``MODEL_CARD.md`` of an export: source, input, baked settings, verification, versions."""
    model, settings = meta["model"], meta["settings"]
    lines = [f"# Exported sdmr detector ({meta['source']['checkpoint']})", "",
             ("Run it with `Segmenter(FOLDER, backend=\"onnxruntime\" | \"openvino\")`, or `sdmr-segment ... "
             "--checkpoint FOLDER --backend onnxruntime` (docs/deployment.md). Feed it depth encoded by sdmr "
             "(the input spec below); outputs are torchvision's: boxes (xyxy px), scores, masks N×1×H×W probabilities."),
             "", "| | |", "|---|---|",
             f"| input | `image` float32 3×H×W in [0, 1], H and W dynamic; spec `{json.dumps(model.get('input_spec', model.get('input_encoding')))}` |",
             f"| training focal length | {model.get(TRAIN_FOCAL_KEY)} px |",
             *[f"| {k.replace('_', ' ')} (baked in) | {v} |" for k, v in settings.items()],
             f"| opset | {meta['opset']} |",
             *[f"| {name} | {entry['file']} ({entry['bytes']:,} bytes, sha256 `{entry['sha256'][:16]}…`) |"
               for name, entry in meta["files"].items()],
             f"| versions | {', '.join(f'{k} {v}' for k, v in meta['versions'].items())} |",
             f"| exported | {meta['exported']} |",
             "", "## Verification (torch vs the export, same inputs)", "",
             f"Tolerances: `{json.dumps(meta['verification']['tolerances'])}`", "",
             "| backend | size | detections (torch, export) | max box diff px | max score diff | max mask diff | ok |",
             "|---|---|---|---|---|---|---|"]
    for backend, reports in meta["verification"]["results"].items():
        for r in reports:
            lines.append(f"| {backend} | {r['size'][0]}×{r['size'][1]} | {r['detections'][0]}, {r['detections'][1]} | "
                         f"{r['box_px']:.2g} | {r['score']:.2g} | {r['mask_prob']:.2g} | {r['ok']} |")
    card = model.get("model_card")
    if card:
        lines += ["", "## Source model card", "", "```json", json.dumps(card, indent=2), "```"]
    return "\n".join(lines) + "\n"


def export_onnx(
    checkpoint: str | Path,
    out: str | Path,
    score_threshold: float = 0.5,
    num_proposals: int | None = None,
    max_detections: int | None = None,
    opset: int = DEFAULT_OPSET,
    openvino: bool | None = None,
    verify_depths: list[np.ndarray] | None = None,
    tolerances: dict[str, float] = TOLERANCES,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Export ``checkpoint`` (any file ``Segmenter`` loads) to the folder ``out``; returns ``model.json``'s content.

    ``score_threshold``, ``num_proposals`` and ``max_detections`` are baked into the graph (the
    mask head runs only on detections above the threshold, which is where the time goes).
    ``openvino``: also write OpenVINO IR (``None``: where the package is installed). ``verify_depths``
    (float metres frames, default :func:`verification_depths`) are encoded by the model's input
    encoding and segmented by torch and by each exported runtime; a difference beyond
    ``tolerances`` is a ``DataError`` and nothing is written. ``out`` must not hold an export unless
    ``overwrite``; the folder appears complete or not at all (written beside it, then renamed).
    """
    from sdmr.model.inference import Segmenter

    out = Path(out)
    if (out / META_FILE).exists() and not overwrite:
        raise OutputError("an export already exists here", out, "choose another --out, or pass --overwrite")
    if out.exists() and not out.is_dir():
        raise OutputError("not a folder", out, "pass a folder for the export (it is created)")
    if openvino is None:
        openvino = _has("openvino")
    if not _has("onnxruntime") or not _has("onnx"):
        raise ConfigError("exporting needs the onnx and onnxruntime packages", fix='pip install "sdmr[onnx]"')
    if openvino and not _has("openvino"):
        raise ConfigError("OpenVINO IR needs the openvino package", fix='pip install "sdmr[openvino]", or drop --openvino')
    segmenter = Segmenter(checkpoint, score_threshold, num_proposals=num_proposals, max_detections=max_detections,
                          input_scale=1.0)
    model = segmenter.model
    settings = {"score_threshold": float(score_threshold),
                "num_proposals": int(model.rpn._post_nms_top_n["testing"]),
                "pre_nms_proposals": int(model.rpn._pre_nms_top_n["testing"]),
                "max_detections": int(model.roi_heads.detections_per_img),
                "box_nms_thresh": float(model.roi_heads.nms_thresh)}
    images = [segmenter.encode(depth) for depth in (verify_depths or verification_depths())]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # a normal folder once renamed, not mkdtemp's owner-only one
    try:
        _export_graph(model, images[0], tmp / ONNX_FILE, opset)
        torch_backend = TorchBackend(model)
        runtimes: dict[str, Backend] = {"onnxruntime": OnnxRuntimeBackend(tmp / ONNX_FILE)}
        if openvino:
            _openvino_ir(tmp / ONNX_FILE, tmp)
            runtimes["openvino"] = OpenVinoBackend(tmp / OPENVINO_FILES[0])
        results = {name: verify(torch_backend, runtime, images, score_threshold, tolerances)
                   for name, runtime in runtimes.items()}
        failed = [f"{name} at {r['size'][0]}×{r['size'][1]}: {'; '.join(r['failures'])}"
                  for name, reports in results.items() for r in reports if not r["ok"]]
        if failed:
            raise DataError(f"the exported model disagrees with torch ({' | '.join(failed)}); nothing was written",
                            checkpoint, f"try another --opset (default {DEFAULT_OPSET}), or report it with this message")
        files = {"onnx": _file_entry(tmp / ONNX_FILE)}
        if openvino:
            files["openvino"] = {**_file_entry(tmp / OPENVINO_FILES[0]), "weights": _file_entry(tmp / OPENVINO_FILES[1])}
        mf = segmenter.model_file
        meta = {
            "format": EXPORT_FORMAT, "version": EXPORT_VERSION,
            "model": {"model_kwargs": mf.model_kwargs, **_input_description(mf),
                      TRAIN_FOCAL_KEY: mf.train_focal_px, "model_card": mf.model_card},
            "settings": settings,
            "graph": {"input": {"name": "image", "dtype": "float32", "shape": [3, "height", "width"],
                                "range": [0.0, 1.0]},
                      "outputs": {"boxes": "float32 N×4 (x1, y1, x2, y2) pixels", "scores": "float32 N, descending",
                                  "masks": "float32 N×1×H×W probabilities (threshold 0.5)"}},
            "opset": opset, "exporter": "torch.onnx.export(dynamo=False)",
            "files": files,
            "versions": _versions(),
            "verification": {"tolerances": tolerances, "results": results},
            "source": {"checkpoint": Path(checkpoint).name, "sha256": sha256_file(Path(checkpoint))},
            "exported": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        atomic_write_text(tmp / CARD_FILE, render_card(meta))
        atomic_write_text(tmp / META_FILE, json.dumps(meta, indent=2) + "\n")  # last: marks the export complete
        if out.exists():
            for name in (META_FILE, ONNX_FILE, *OPENVINO_FILES, CARD_FILE):  # only ours, never the user's files
                (out / name).unlink(missing_ok=True)
            for item in sorted(tmp.iterdir(), key=lambda p: p.name == META_FILE):  # model.json last
                item.replace(out / item.name)
        else:
            tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return meta


def _file_entry(path: Path) -> dict[str, Any]:
    return {"file": path.name, "bytes": path.stat().st_size, "sha256": sha256_file(path)}


def _has(package: str) -> bool:
    try:
        __import__(package)
    except ImportError:
        return False
    return True
