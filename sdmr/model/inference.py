"""The one inference path: depth metres → ``Instances``. Used by ``sdmr-segment`` and the ``sdmr`` Method.

Speed comes from settings that do not change which confident objects are found:
``torch.inference_mode``, the score threshold applied *inside* the detector (so the mask head
only runs on detections that will be kept; FINDINGS: time follows the number of detections),
and an explicit thread count.

Two checks keep a user from getting silently empty or wrong masks: the input scale follows the
camera (``input_scale="auto"``: objects must look as large, in pixels, as in training), and a
depth whose median is far outside the distances the model was trained for (millimetres read as
metres, and the reverse) gives a warning that says which factor to apply.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from sdmr.data.depth_io import valid_mask
from sdmr.data.errors import DataError
from sdmr.data.instances import Instances
from sdmr.data.intrinsics import CameraIntrinsics
from sdmr.errors import ConfigError
from sdmr.export.backends import Backend, TorchBackend, check_backend, open_exported
from sdmr.model.bundled import bundled_model_path
from sdmr.model.checkpoint import build_from_file
from sdmr.model.verify import geometric_stages
from sdmr.threads import compute_threads

MASK_THRESHOLD = 0.5  # torchvision's soft masks are probabilities; 0.5 is its own convention
DEFAULT_TRIM_BELOW_HEIGHT = 0.005  # m; see Segmenter's trim_below_height
DEFAULT_SURFACE_RATIO: float | None = 1.5  # see Segmenter's surface_ratio
DEFAULT_CONTAINED_FRACTION: float | None = None  # see Segmenter's contained_fraction
#: Camera distances (m) of the ``sim2real`` generator preset, assumed when a model card does not
#: state its own ``intended.distance_m``.
DEFAULT_DISTANCE_M = (0.6, 1.6)
#: A frame whose median depth is beyond this factor of that range is "far outside" it.
DEPTH_RANGE_SLACK = 2.0

InputScale = float | Literal["auto"]


class InputScaleWarning(UserWarning):
    """``input_scale="auto"`` could not be resolved (no intrinsics, or no training focal length)."""


class DepthRangeWarning(UserWarning):
    """A frame's depth is far outside the distances the model was trained for (wrong unit?)."""


def check_input_scale(value: Any) -> InputScale:
    """``"auto"`` or a positive finite factor, else a ConfigError saying what to pass."""
    if value == "auto":
        return "auto"
    try:
        scale = float(value)
    except (TypeError, ValueError):
        scale = math.nan
    if not (math.isfinite(scale) and scale > 0):
        raise ConfigError(
            f"input_scale must be positive or 'auto', got {value!r}",
            fix="pass 'auto' (from the camera's focal length) or a factor > 0 (1.0 = the frames' own size, "
            "0.5 = half)",
        )
    return scale


#: Unit mistakes worth naming: the factor that turns the wrong reading into metres, and what it was.
UNIT_FACTORS = {
    1e-3: "millimetres read as metres?",
    1e-2: "centimetres read as metres?",
    1e-4: "tenths of millimetres read as metres?",
    1e3: "metres read as millimetres?",
}


def depth_range_warning(depth: np.ndarray, distance_m: tuple[float, float]) -> str | None:
    """Why ``depth`` (metres) is far outside ``distance_m`` and what fixes it; None if it is not.

    Far outside = the median valid depth is more than ``DEPTH_RANGE_SLACK`` times beyond the range.
    If a common unit mistake (``UNIT_FACTORS``) brings it back into range, the message names the factor.
    """
    near, far = distance_m
    valid = depth[valid_mask(depth)]
    if valid.size == 0:
        return None
    low, high = near / DEPTH_RANGE_SLACK, far * DEPTH_RANGE_SLACK
    median = float(np.median(valid))
    if low <= median <= high:
        return None
    where = f"median depth {median:.3g} m is far outside the {near:g}–{far:g} m this model was trained for"
    for factor, mistake in UNIT_FACTORS.items():
        if low <= median * factor <= high:
            hint = " (or --depth-encoding mm16 for a 16-bit millimetre PNG)" if factor == 1e-3 else ""
            return f"{where} ({mistake}): multiply the depth by {factor:g} — sdmr-segment: --depth-scale {factor:g}{hint}"
    return (
        f"{where}: objects will not look as they did in training and masks may be missing or wrong; "
        "check the depth unit, or use a model trained for this range"
    )


def detections_to_instances(
    output: dict[str, torch.Tensor], score_threshold: float = 0.0, mask_threshold: float = MASK_THRESHOLD
) -> Instances:
    """torchvision detections (masks N×1×H×W probabilities) → ``Instances`` with scores, best first."""
    scores = output["scores"].detach().float().cpu()
    keep = torch.nonzero(scores >= score_threshold).flatten()
    masks = output["masks"][keep, 0].detach().cpu() > mask_threshold
    return Instances(masks=masks.numpy().astype(bool), scores=scores[keep].numpy())


def quantize_linear_int8(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Dynamic int8 ``nn.Linear`` (weights int8, activations quantised on the fly), CPU only."""
    if device.type != "cpu":
        raise ConfigError(
            "int8_box_head runs on CPU only", fix="drop int8_box_head (or --int8-box-head) on GPU"
        )
    quantize = getattr(getattr(torch.ao, "quantization", None), "quantize_dynamic", None)
    if quantize is None:
        raise ConfigError(
            f"torch {torch.__version__} has no torch.ao.quantization.quantize_dynamic",
            fix="drop int8_box_head (or --int8-box-head)",
        )
    with warnings.catch_warnings():  # torch marks eager quantisation deprecated in favour of torchao
        warnings.simplefilter("ignore")
        return quantize(module, {torch.nn.Linear}, dtype=torch.qint8)


@contextlib.contextmanager
def torch_threads(num_threads: int | None) -> Iterator[None]:
    """Run the block with ``num_threads`` torch CPU threads, then restore ``torch.get_num_threads()``.

    ``None`` leaves the count alone. Scoped so a Segmenter does not change the thread count of
    the rest of the process (a DataLoader, a harness worker, the caller's own torch code).
    """
    if num_threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(int(num_threads))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class Segmenter:
    """A trained SD Mask R-CNN, ready to segment depth images (``Segmenter.default()``: the bundled one).

    Args:
        checkpoint: a ``.ckpt`` from ``python -m sdmr.train`` or an ``export_model`` file; the
            model architecture, the depth input encoding and the training focal length are read from it.
        score_threshold: detections below this confidence are dropped (inside the model).
        device: torch device string.
        num_threads: CPU threads of the detector (torch, ONNX Runtime or OpenVINO) during the forward
            pass; ``None``: :func:`sdmr.threads.compute_threads` (``$SDMR_THREADS``, else
            ``$OMP_NUM_THREADS``, else half the cores: a full-core pool collapses on a shared machine).
            torch's process-wide count is restored after each call (:func:`torch_threads`).
        max_detections: overrides the checkpoint's ``box_detections_per_img`` when given.
        num_proposals: overrides the checkpoint's ``rpn_post_nms_top_n_test`` (the box head's
            cost is linear in it); ``None`` keeps the trained setting.
        channels_last: run convolutions in NHWC memory layout.
        int8_box_head: CPU only: dynamic int8 quantisation of the box head's two linear layers,
            which run on every proposal and dominate CPU time (benchmarks/inference.py: −25 %
            time, same AP on synthetic 512×384 images; outputs differ slightly, not bit-exact).
        input_scale: resize depth by this factor before the model (nearest neighbour, so no
            invented depths) and the masks back after. Anchors and features are in pixels, so
            objects should appear about as large as in training: a model trained at 256×192
            wants ~0.5 on 640×480 frames. ``"auto"`` (default) = the checkpoint's training focal
            length / the frame's ``fx``, from the intrinsics passed to :meth:`segment`; without
            intrinsics, or for a checkpoint that does not record its focal length, 1.0 with one
            ``InputScaleWarning`` per Segmenter saying what to pass.
        min_height_above_plane: geometric verification (off when ``None``, the default): drop
            masks whose median height above the RANSAC support plane is under this many metres
            (e.g. 0.015), the phantom objects of correlated sensor noise (:mod:`sdmr.model.verify`).
        trim_below_height: cut from every mask the pixels less than this many metres above the
            support plane — the coarse mask edge that spills onto the table
            (:func:`sdmr.model.verify.trim_to_foreground`). Default 0.005, chosen on the synthetic
            object-disjoint test (shipped model: AP 0.523 → 0.548, docs/sim2real.md); ``None`` or 0 switches it off.
        surface_ratio: drop flat masks whose plane continues beyond them over at least this many
            times their area — patches of bin walls and bare tables
            (:func:`sdmr.model.verify.drop_surface_patches`). Default 1.5: 13 → 0 phantoms on 60 empty
            scenes for 0.004 synthetic AP (docs/sim2real.md); ``None`` or 0 switches it off.
        contained_fraction: drop a mask with at least this fraction of its pixels inside a
            higher-scoring mask — a part reported next to its whole object
            (:func:`sdmr.model.verify.drop_contained_masks`, in (0, 1], e.g. 0.8); ``None`` or 0: off.
        backend: where the detector runs (:mod:`sdmr.export.backends`): ``"torch"`` (eager), or
            ``"onnxruntime"`` / ``"openvino"`` for an ``sdmr-export`` folder (a checkpoint is exported
            on first use and cached); encoding and post-processing are this class's for every backend.
    """

    def __init__(
        self,
        checkpoint: str | Path,
        score_threshold: float = 0.5,
        device: str = "cpu",
        num_threads: int | None = None,
        max_detections: int | None = None,
        num_proposals: int | None = None,
        channels_last: bool = False,
        int8_box_head: bool = False,
        input_scale: InputScale = "auto",
        min_height_above_plane: float | None = None,
        trim_below_height: float | None = DEFAULT_TRIM_BELOW_HEIGHT,
        surface_ratio: float | None = DEFAULT_SURFACE_RATIO,
        contained_fraction: float | None = DEFAULT_CONTAINED_FRACTION,
        backend: str = "torch",
    ) -> None:
        self.backend_name = check_backend(backend)
        trim_below_height = trim_below_height or None  # 0 = off, as on the command line
        surface_ratio = surface_ratio or None
        contained_fraction = contained_fraction or None
        if contained_fraction is not None and not 0 < contained_fraction <= 1:
            raise ConfigError(
                f"contained_fraction must be in (0, 1] or None, got {contained_fraction}",
                fix="pass a fraction of the mask's pixels (e.g. 0.8), or 0/None to switch the stage off",
            )
        self.input_scale = check_input_scale(input_scale)  # checked before the (slow) checkpoint load
        for name, value, what in (
            ("min_height_above_plane", min_height_above_plane, "a height in metres (e.g. 0.015)"),
            ("trim_below_height", trim_below_height, "a height in metres (e.g. 0.005)"),
            ("surface_ratio", surface_ratio, "a multiple of the mask's area (e.g. 1.5)"),
        ):
            if value is not None and not value > 0:
                raise ConfigError(
                    f"{name} must be positive or None, got {value}",
                    fix=f"pass {what}, or None to switch the stage off",
                )
        self.min_height_above_plane = min_height_above_plane
        self.trim_below_height = trim_below_height
        self.surface_ratio = surface_ratio
        self.contained_fraction = contained_fraction
        self.num_threads = compute_threads() if num_threads is None else num_threads
        self._scale_warned = False
        self.score_threshold = float(score_threshold)
        if self.backend_name != "torch":  # an sdmr-export folder (or a checkpoint, exported on first use)
            self.backend, self.export = open_exported(
                checkpoint, self.backend_name, self.score_threshold, self.num_threads, num_proposals, max_detections,
                torch_only={"channels_last": channels_last, "int8_box_head": int8_box_head, "device": device},
            )
            self.model, self.input_spec, self.model_file = None, self.export.input_spec, self.export.model_file
            self.device = torch.device("cpu")
            return
        model, self.input_spec, self.model_file = build_from_file(checkpoint)
        model.roi_heads.score_thresh = self.score_threshold
        if max_detections is not None:
            model.roi_heads.detections_per_img = int(max_detections)
        if num_proposals is not None:
            model.rpn._post_nms_top_n["testing"] = int(num_proposals)
        self.device = torch.device(device)
        self.model = model.eval().to(self.device)
        if int8_box_head:
            self.model.roi_heads.box_head = quantize_linear_int8(self.model.roi_heads.box_head, self.device)
        if channels_last:  # weights in NHWC make convolutions pick NHWC for the padded batch too
            self.model = self.model.to(memory_format=torch.channels_last)
        self.backend: Backend = TorchBackend(self.model)

    @classmethod
    def default(cls, weights_dir: str | Path | None = None, **settings: Any) -> Segmenter:
        """The model bundled with sdmr (``sdmr/weights/``, sha256-checked), with ``Segmenter``'s ``settings``.

        ``weights_dir`` (or ``$SDMR_WEIGHTS_DIR``) points at another bundle. Without one installed
        this is a ``DataError`` that says how to pass a checkpoint instead.
        """
        check_input_scale(settings.get("input_scale", "auto"))  # before hashing 77 MB
        return cls(bundled_model_path(weights_dir), **settings)

    @property
    def train_focal_px(self) -> float | None:
        """Focal length (pixels) of the training images, when the checkpoint records it."""
        return self.model_file.train_focal_px

    @property
    def trained_distance_m(self) -> tuple[float, float]:
        """Camera distances the model was made for: its model card's ``intended.distance_m``, else the default."""
        intended = (self.model_file.model_card or {}).get("intended")
        distance = intended.get("distance_m") if isinstance(intended, dict) else None
        return (float(distance[0]), float(distance[1])) if distance else DEFAULT_DISTANCE_M

    def _warn_scale_once(self, message: str) -> None:
        if not self._scale_warned:
            self._scale_warned = True
            warnings.warn(message, InputScaleWarning, stacklevel=3)

    def scale_for(self, intrinsics: CameraIntrinsics | None, shape: tuple[int, int]) -> float:
        """The resize factor for an H×W frame from this camera (see ``input_scale``)."""
        if intrinsics is not None and (intrinsics.height, intrinsics.width) != tuple(shape):
            raise DataError(
                f"depth is {shape[0]}×{shape[1]} but the intrinsics are for {intrinsics.height}×{intrinsics.width}",
                fix="pass the intrinsics of this image size (CameraIntrinsics.scaled after a resize)",
            )
        if self.input_scale != "auto":
            return self.input_scale
        if self.train_focal_px is None:
            self._warn_scale_once(
                f"{self.model_file.path.name} does not record its training focal length, so "
                "input_scale='auto' uses 1.0; pass input_scale=<factor> (sdmr-segment --input-scale), "
                "e.g. 0.5 for 640×480 frames and a model trained at 256×192"
            )
            return 1.0
        if intrinsics is None:
            self._warn_scale_once(
                "no camera intrinsics, so input_scale='auto' uses 1.0; pass the intrinsics "
                "(segment(depth, intrinsics=CameraIntrinsics(...)); sdmr-segment --intrinsics fx,fy,cx,cy "
                f"or a .intr file) or a fixed input_scale (this model was trained at fx ≈ {self.train_focal_px:.0f} px)"
            )
            return 1.0
        return self.train_focal_px / intrinsics.fx

    @property
    def input_encoding(self) -> str:
        """The input spec's encoding name (a depth encoding, or ``rgb`` for a colour model)."""
        return self.input_spec.encoding

    def encode(
        self, depth: np.ndarray, intrinsics: CameraIntrinsics | None = None, color: np.ndarray | None = None
    ) -> torch.Tensor:
        """The model's 3×H×W input, encoded as it was trained (:meth:`InputSpec.encode`): from the
        float32 H×W depth in metres (0/NaN invalid), or for a colour model from ``color`` (uint8 H×W×3)."""
        return self.input_spec.encode(depth, intrinsics, color)

    def segment(
        self, depth: np.ndarray, intrinsics: CameraIntrinsics | None = None, color: np.ndarray | None = None
    ) -> Instances:
        """Float32 H×W metres (0/NaN invalid) → instances at the same H×W, highest score first.

        ``intrinsics`` (of this H×W) set the ``"auto"`` input scale and the geometric filter's camera;
        ``color`` (uint8 H×W×3 RGB of the same size) is what a colour model reads (``input_spec``).
        """
        return self.segment_and_encode(depth, intrinsics, color)[0]

    def segment_and_encode(
        self, depth: np.ndarray, intrinsics: CameraIntrinsics | None = None, color: np.ndarray | None = None
    ) -> tuple[Instances, torch.Tensor]:
        """:meth:`segment`, also returning the encoded input (for overlays, without encoding twice)."""
        image = self.encode(depth, intrinsics, color)  # validates the depth (or the colour image)
        warning = depth_range_warning(depth, self.trained_distance_m) if not self.input_spec.needs_color else None
        if warning:
            warnings.warn(warning, DepthRangeWarning, stacklevel=3)
        instances = self.segment_encoded(image, self.scale_for(intrinsics, depth.shape))
        instances = geometric_stages(
            instances, depth, intrinsics, self.trim_below_height, self.min_height_above_plane, self.surface_ratio,
            self.contained_fraction,
        )
        return instances, image

    @torch.inference_mode()
    def segment_encoded(self, image: torch.Tensor, scale: float | None = None) -> Instances:
        """An input from :meth:`encode` → instances at its H×W; ``scale`` defaults to :meth:`scale_for` without intrinsics."""
        image = image.to(self.device)
        height, width = image.shape[-2:]
        if scale is None:
            scale = self.scale_for(None, (height, width))
        if scale != 1.0:
            size = (max(1, round(height * scale)), max(1, round(width * scale)))
            image = F.interpolate(image[None], size=size, mode="nearest")[0]
        with torch_threads(self.num_threads):
            output = self.backend.forward(image)  # the one step that differs between backends
        if scale != 1.0:
            output = dict(output, masks=F.interpolate(output["masks"], size=(height, width), mode="bilinear"))
        return detections_to_instances(output, self.score_threshold)
