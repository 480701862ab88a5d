"""Where the detector runs: torch (eager), ONNX Runtime or OpenVINO, behind one small interface.

A backend is only the network: ``forward(image) -> {"boxes", "scores", "masks"}`` for one encoded
3×H×W float image (torchvision's output layout: boxes N×4 xyxy pixels, scores N, masks N×1×H×W
probabilities). Encoding the depth before it and everything after it (score filter, mask threshold,
rescaling, the geometric stages) stay :class:`sdmr.model.inference.Segmenter`'s, one code path for
every backend, so a deployed model gives the masks the torch model gives.

An exported model is a folder written by ``sdmr-export`` (:mod:`sdmr.export.onnx_export`):
``model.onnx`` (+ ``model.xml``/``model.bin`` for OpenVINO), and ``model.json`` with everything
``Segmenter`` knows about the input (encoding, training focal length, model card) and the
post-processing baked into the graph (score threshold, proposals, detections per image).
:func:`open_exported` reads that folder (or one of its model files); given a torch checkpoint
instead it exports it once into a cache folder (``$SDMR_EXPORT_CACHE``, default
``~/.cache/sdmr/exports``) and opens that.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from sdmr.data.errors import DataError
from sdmr.data.input_spec import input_spec
from sdmr.data.safe_load import load_json_object
from sdmr.errors import ConfigError
from sdmr.model.bundled import sha256_file
from sdmr.model.checkpoint import TRAIN_FOCAL_KEY, ModelFile
from sdmr.threads import compute_threads

BACKENDS = ("torch", "onnxruntime", "openvino")
EXPORT_FORMAT = "sdmr-exported-detector"
EXPORT_VERSION = 1
META_FILE = "model.json"
ONNX_FILE = "model.onnx"
OPENVINO_FILES = ("model.xml", "model.bin")
CARD_FILE = "MODEL_CARD.md"
CACHE_ENV = "SDMR_EXPORT_CACHE"
#: What to install for each backend (pyproject extras).
INSTALL = {"onnxruntime": 'pip install "sdmr[onnx]"', "openvino": 'pip install "sdmr[openvino]"'}
REEXPORT_FIX = "re-export it: sdmr-export CHECKPOINT --out DIR (docs/deployment.md)"


class Backend(Protocol):
    """The one thing a backend does."""

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Encoded float 3×H×W in [0, 1] → ``boxes`` N×4, ``scores`` N, ``masks`` N×1×H×W probabilities."""
        ...


def check_backend(name: str) -> str:
    if name not in BACKENDS:
        raise ConfigError(f"unknown backend {name!r}", fix=f"use one of {', '.join(BACKENDS)}")
    return name


def _outputs(boxes: Any, scores: Any, masks: Any) -> dict[str, torch.Tensor]:
    return {"boxes": torch.as_tensor(np.asarray(boxes)), "scores": torch.as_tensor(np.asarray(scores)),
            "masks": torch.as_tensor(np.asarray(masks))}


class TorchBackend:
    """The eager torchvision model (what ``Segmenter(backend="torch")`` runs)."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        output = self.model([image])[0]
        return {"boxes": output["boxes"], "scores": output["scores"], "masks": output["masks"]}


def _missing_package(backend: str, err: ImportError) -> ConfigError:
    return ConfigError(f"backend {backend!r} needs a package that is not installed ({err})",
                       fix=f"{INSTALL[backend]}, or use backend='torch'")


class OnnxRuntimeBackend:
    """``model.onnx`` in an ONNX Runtime CPU session: ``num_threads`` intra-op threads (default
    :func:`sdmr.threads.compute_threads`), one inter-op, no spinning."""

    def __init__(self, path: str | Path, num_threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError as err:
            raise _missing_package("onnxruntime", err) from err
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.inter_op_num_threads = 1
        # no busy-waiting between operators: on a shared machine (a robot's other processes, training,
        # DataLoader workers) spinning threads steal the cores the work needs (measured: docs/deployment.md)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.intra_op_num_threads = compute_threads() if num_threads is None else int(num_threads)
        options.log_severity_level = 3  # the Mask R-CNN graph's shape-inference notes are not the user's business
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as err:
            raise unreadable(path, err) from err
        self.input_name = self.session.get_inputs()[0].name

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        boxes, scores, masks = self.session.run(None, {self.input_name: image.detach().cpu().numpy()})
        return _outputs(boxes, scores, masks)


class OpenVinoBackend:
    """``model.xml`` (or ``model.onnx``) compiled by OpenVINO for the CPU, at float32 precision.

    OpenVINO picks bf16 by default on CPUs with AVX-512 BF16/AMX, which moves boxes by pixels and
    masks by up to 0.5 in probability (measured): ``precision="f32"`` keeps the torch model's outputs.
    """

    def __init__(self, path: str | Path, num_threads: int | None = None, precision: str = "f32") -> None:
        try:
            import openvino as ov
        except ImportError as err:
            raise _missing_package("openvino", err) from err
        config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": "LATENCY",
                                  "INFERENCE_NUM_THREADS": compute_threads() if num_threads is None else int(num_threads)}
        try:
            self.compiled = ov.Core().compile_model(str(path), "CPU", config)
        except Exception as err:
            raise unreadable(path, err) from err

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        result = self.compiled([image.detach().cpu().numpy()])
        return _outputs(*(result[out] for out in self.compiled.outputs))


def unreadable(path: str | Path, err: BaseException) -> DataError:
    first = " ".join(str(err).strip().splitlines()[:1]) or type(err).__name__
    return DataError(f"cannot load the exported model ({first[:300]})", path,
                     f"the file is truncated or not an sdmr export; {REEXPORT_FIX}")


@dataclass
class ExportedModel:
    """An export folder, read: its metadata, and the ``ModelFile`` view of it ``Segmenter`` uses."""

    folder: Path
    meta: dict[str, Any]
    model_file: ModelFile

    @property
    def input_spec(self) -> Any:
        return self.model_file.input_spec

    @property
    def settings(self) -> dict[str, Any]:
        return self.meta["settings"]

    def file(self, kind: str) -> Path:
        """The model file of ``kind`` (``onnx`` or ``openvino``), checked against the recorded sha256."""
        entry = self.meta["files"].get(kind)
        if entry is None:
            raise DataError(f"this export has no {kind} model", self.folder / META_FILE,
                            f"re-export with the {kind} package installed (sdmr-export ... --out DIR)")
        path = self.folder / entry["file"]
        if not path.is_file():
            raise DataError("exported model file is missing", path, f"copy the whole export folder; {REEXPORT_FIX}")
        actual = sha256_file(path)
        if actual != entry["sha256"]:
            raise DataError(
                f"exported model fails its checksum ({path.stat().st_size} bytes, sha256 {actual[:12]}…; "
                f"{META_FILE} records {entry['bytes']} bytes, {entry['sha256'][:12]}…): truncated or changed",
                path, REEXPORT_FIX,
            )
        return path


def model_file_from_meta(meta: dict[str, Any], path: Path) -> ModelFile:
    """The exported ``model`` section as the ``ModelFile`` a checkpoint gives (no tensors).

    The input is read by :func:`sdmr.data.input_spec.input_spec`, as checkpoints' are, so an export and
    its checkpoint describe their input the same way (a spec dict, or a bare depth encoding name).
    """
    model = meta["model"]
    spec = input_spec(model.get("input_spec", model.get("input_encoding")), path)
    focal = model.get(TRAIN_FOCAL_KEY)
    return ModelFile(path, {}, dict(model["model_kwargs"]), input_spec=spec,
                     train_focal_px=None if focal is None else float(focal), model_card=model.get("model_card"))


def read_export(path: str | Path) -> ExportedModel:
    """An ``sdmr-export`` folder, or its ``model.onnx``/``model.xml``/``model.json`` → :class:`ExportedModel`."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    meta_path = folder / META_FILE
    if not path.exists():
        raise DataError("exported model not found", path, "pass the folder sdmr-export wrote (or its model.onnx)")
    meta = load_json_object(meta_path, "export metadata", f"keep {META_FILE} beside the model file; {REEXPORT_FIX}",
                            REEXPORT_FIX)
    if meta.get("format") != EXPORT_FORMAT or not isinstance(meta.get("model"), dict):
        raise DataError(f"not an sdmr export (format {meta.get('format')!r})", meta_path, REEXPORT_FIX)
    if meta.get("version", 0) > EXPORT_VERSION:
        raise DataError(f"export format version {meta['version']} is newer than this sdmr reads ({EXPORT_VERSION})",
                        meta_path, "upgrade sdmr, or re-export with this version")
    return ExportedModel(folder, meta, model_file_from_meta(meta, folder / meta["files"]["onnx"]["file"]))


def is_export(path: str | Path) -> bool:
    """A folder with ``model.json``, or a model file of one (``.onnx``, ``.xml``, ``model.json``)."""
    path = Path(path)
    return (path / META_FILE).is_file() if path.is_dir() else path.suffix in (".onnx", ".xml", ".json")


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "sdmr" / "exports")


def cached_export(checkpoint: str | Path, **settings: Any) -> Path:
    """The export folder of ``checkpoint`` with these export ``settings``, made on first use.

    Keyed by the checkpoint's sha256, the settings and the torch/sdmr versions, so a changed file or
    setting never reuses a stale graph. Written to a temporary folder and renamed into place, so a
    crash or a second process exporting at the same time never leaves a half-written export.
    """
    from sdmr import __version__
    from sdmr.export.onnx_export import export_onnx

    key = json.dumps({"sha256": sha256_file(Path(checkpoint)), "settings": settings, "torch": torch.__version__,
                      "sdmr": __version__}, sort_keys=True)
    folder = cache_root() / hashlib.sha256(key.encode()).hexdigest()[:20]
    if (folder / META_FILE).is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        export_onnx(checkpoint, tmp, **settings)
        try:
            os.rename(tmp, folder)
        except OSError:  # another process finished first: use its export
            if not (folder / META_FILE).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def open_exported(
    checkpoint: str | Path,
    backend: str,
    score_threshold: float,
    num_threads: int | None = None,
    num_proposals: int | None = None,
    max_detections: int | None = None,
    torch_only: dict[str, Any] | None = None,
) -> tuple[Backend, ExportedModel]:
    """The ``backend`` runtime for an export folder (or a checkpoint, exported once into the cache).

    The graph holds its post-processing, so the Segmenter's settings must agree with the export's:
    a score threshold below the exported one, or another proposal/detection count, is a
    ``ConfigError`` saying how to re-export (a higher threshold is fine: Segmenter filters after).
    ``torch_only``: the Segmenter's eager-model settings (``channels_last``, ``int8_box_head``, ``device``),
    refused when set, since an export runs on the CPU as it was exported.
    """
    for name, value in (torch_only or {}).items():
        if value and value != "cpu":
            raise ConfigError(f"{name}={value!r} applies to backend='torch' only", fix=f"drop {name}, or use backend='torch'")
    if not is_export(checkpoint):
        settings = {"score_threshold": score_threshold, "num_proposals": num_proposals,
                    "max_detections": max_detections}
        checkpoint = cached_export(checkpoint, **{k: v for k, v in settings.items() if v is not None},
                                   openvino=backend == "openvino")
    export = read_export(checkpoint)
    baked = export.settings
    if score_threshold < baked["score_threshold"] - 1e-9:
        raise ConfigError(
            f"score_threshold {score_threshold} is below the {baked['score_threshold']} this model was exported with "
            "(detections under it are not in the graph's output)",
            export.folder, f"pass score_threshold ≥ {baked['score_threshold']}, or re-export with --score-threshold",
        )
    for name, value in (("num_proposals", num_proposals), ("max_detections", max_detections)):
        if value is not None and int(value) != baked[name]:
            raise ConfigError(f"{name}={value} differs from the exported graph's {baked[name]}", export.folder,
                              f"drop {name}, or re-export with --{name.replace('_', '-')} {value}")
    if backend == "onnxruntime":
        return OnnxRuntimeBackend(export.file("onnx"), num_threads), export
    kind = "openvino" if "openvino" in export.meta["files"] else "onnx"  # OpenVINO reads ONNX directly too
    return OpenVinoBackend(export.file(kind), num_threads), export
