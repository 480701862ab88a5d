"""Table I rows 3–4: a COCO-pretrained Mask R-CNN (ResNet-50 FPN) fine-tuned on real images,
once on colour (``ft_maskrcnn_color``) and once on depth (``ft_maskrcnn_depth``).

The paper fine-tuned torchvision-style COCO weights for 10 epochs at lr 0.001 on the 100 real
training images of WISDOM-Real. Here ``fit`` does the same through ``python -m sdmr.train``'s own
code path: the Hydra training config (``model=coco_finetune``: ResNet-50, frozen BatchNorm,
ImageNet normalisation), the same ``SDMaskRCNNModule``, callbacks and ``Trainer``, fed by
``DepthDataModule.from_samples`` with the harness's ``--fit-split``. The 91-class box and mask
predictors of the COCO file are replaced by 2-class ones (``sdmr.model.checkpoint.load_weights``).
The fine-tuned weights are exported into the method's run folder (``<run>/methods/<name>/``) and
reused when the run is resumed; ``--param checkpoint=PATH`` predicts with them and skips ``fit``.

Nothing is downloaded: the COCO file comes from ``--param weights=PATH`` (or torch's hub cache,
where ``torchvision.models.detection.maskrcnn_resnet50_fpn(weights="DEFAULT")`` leaves it), and
``weights=none`` trains from scratch, recorded as ``pretrained: false`` so it is never mistaken for
the paper's baseline.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from sdmr.bench.method import BaseMethod
from sdmr.data.errors import DataError
from sdmr.data.input_spec import InputSpec, input_spec
from sdmr.data.instances import Instances
from sdmr.data.sample import Sample
from sdmr.errors import ConfigError

#: torchvision's COCO weights for ``maskrcnn_resnet50_fpn`` (MaskRCNN_ResNet50_FPN_Weights.COCO_V1).
COCO_WEIGHTS_FILE = "maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth"
COCO_WEIGHTS_URL = f"https://download.pytorch.org/models/{COCO_WEIGHTS_FILE}"
FROM_SCRATCH = "none"


def hub_cache_weights() -> Path:
    """Where torchvision keeps the COCO file once it has downloaded it (``$TORCH_HOME``/hub/checkpoints)."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / COCO_WEIGHTS_FILE


@dataclass
class FineTuneParams:
    """The paper's schedule as defaults (10 epochs, lr 0.001); ``max_steps`` > 0 caps a short run."""

    weights: str = ""  # torchvision COCO state_dict (.pth); "" = torch's hub cache; "none" = from scratch
    checkpoint: str = ""  # fine-tuned weights (an sdmr export or .ckpt): predict with them, skip fit
    epochs: int = 10
    lr: float = 0.001
    max_steps: int = -1  # -1: as many as the epochs take
    batch_size: int = 1
    num_workers: int = 0
    accelerator: str = "auto"  # Lightning accelerator for fit (cpu, gpu, auto)
    seed: int = 0
    score_threshold: float = 0.5
    device: str = "cpu"  # torch device for predict


@dataclass
class DepthFineTuneParams(FineTuneParams):
    depth_encoding: str = "wisdom_fixed"  # the paper fed WISDOM's 0.25–1.25 m depth images


class FineTunedMaskRCNN(BaseMethod):
    """Shared by both rows; a subclass says which input it reads (:meth:`spec`)."""

    Params: ClassVar[type] = FineTuneParams

    def __init__(self, params: FineTuneParams | None = None, **overrides: Any) -> None:
        super().__init__(params, **overrides)
        self._check_params()
        self.spec()  # an unknown depth encoding is refused here, not after training
        self.weights_path: Path | None = Path(self.params.checkpoint) if self.params.checkpoint else None
        self._segmenter = None

    def spec(self) -> InputSpec:  # pragma: no cover - abstract
        raise NotImplementedError

    def _check_params(self) -> None:
        p = self.params
        for field_name, ok, fix in (
            ("epochs", p.epochs >= 1, "at least 1 (the paper: 10)"),
            ("lr", p.lr > 0, "a positive learning rate (the paper: 0.001)"),
            ("max_steps", p.max_steps == -1 or p.max_steps >= 1, "-1 (the epochs decide) or a step count >= 1"),
            ("batch_size", p.batch_size >= 1, "at least 1"),
            ("num_workers", p.num_workers >= 0, "0 (no worker processes) or more"),
            ("score_threshold", 0 <= p.score_threshold <= 1, "a score in [0, 1], e.g. 0.5"),
        ):
            if not ok:
                raise ConfigError(f"{self.name}: {field_name}={getattr(p, field_name)} cannot work",
                                  fix=f"--param {self.name}.{field_name}=... : {fix}")

    # ------------------------------------------------------------------ before any work
    def init_weights(self) -> Path | None:
        """The COCO file to start from (``None`` = from scratch), or the offline-honest error."""
        value = self.params.weights.strip()
        if value.lower() == FROM_SCRATCH:
            return None
        if not value:
            cached = hub_cache_weights()
            if cached.is_file():
                return cached
            raise ConfigError(
                f"{self.name} starts from torchvision's COCO-pretrained maskrcnn_resnet50_fpn weights, and sdmr "
                "downloads nothing at run time",
                fix=f"download {COCO_WEIGHTS_URL} once on a machine with internet (or run torchvision's "
                "maskrcnn_resnet50_fpn(weights='DEFAULT'), which stores it in torch's hub cache, "
                f"{cached.parent}), then pass --param {self.name}.weights=/path/to/{COCO_WEIGHTS_FILE}; "
                f"--param {self.name}.weights=none trains from scratch (marked pretrained: false, not the "
                "paper's baseline)",
            )
        path = Path(value).expanduser()
        if not path.is_file():
            raise DataError("COCO weights file not found", path,
                            f"pass the downloaded {COCO_WEIGHTS_FILE} as --param {self.name}.weights=PATH")
        return path

    def check_ready(self, sample: Sample, fitting: bool) -> None:
        if self.spec().needs_color and sample.get("color") is None:
            raise DataError(
                f"{self.name} reads colour images, but the dataset has none (no color_ims/)",
                fix="benchmark a dataset with colour images (sdmr-generate --color makes them), or use "
                "ft_maskrcnn_depth",
            )
        if self.weights_path is not None:
            if not self.weights_path.is_file():
                raise DataError("fine-tuned checkpoint not found", self.weights_path,
                                f"pass the {self.name}.pt a --fit-split run wrote (<run>/methods/{self.name}/)")
            return
        if not fitting:
            raise ConfigError(
                f"{self.name} has no fine-tuned weights to predict with",
                fix=f"pass --fit-split train to fine-tune first, or --param {self.name}.checkpoint=PATH",
            )
        self.init_weights()

    # ------------------------------------------------------------------ fit
    def fit(self, train: Sequence[Sample], cfg: Any | None = None) -> None:
        """Fine-tune on ``train`` with ``python -m sdmr.train``'s module, callbacks and Trainer."""
        if self.params.checkpoint:
            return  # given weights: nothing to learn
        self.check_ready(train[0], fitting=True)
        output_dir = getattr(cfg, "output_dir", None)
        folder = Path(output_dir) if output_dir is not None else Path(tempfile.mkdtemp(prefix=f"sdmr-{self.name}-"))
        exported = folder / f"{self.name}.pt"
        if exported.is_file():  # a resumed run: fine-tuned already
            self.weights_path, self._segmenter = exported, None
            return
        run_dir = folder / "train"
        config = self.training_config(run_dir, self.init_weights())
        from sdmr.data.datamodule import DepthDataModule
        from sdmr.train import train as run_training

        data = DepthDataModule.from_samples(
            train, input_encoding=self.spec().to_dict(), batch_size=self.params.batch_size,
            num_workers=self.params.num_workers, flips=True, pad_to=None, seed=self.params.seed,
        )
        result = run_training(config, datamodule=data)
        self._export(run_dir / "checkpoints" / "last.ckpt", exported, result, len(train))
        shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)  # optimiser state; the export is the product
        self.weights_path, self._segmenter = exported, None

    def training_config(self, run_dir: Path, init: Path | None) -> Any:
        """``conf/train.yaml`` with ``model=coco_finetune`` and this method's schedule, no validation."""
        from hydra import compose, initialize_config_dir
        from hydra.core.global_hydra import GlobalHydra
        from omegaconf import OmegaConf

        from sdmr.train import CONFIG_DIR

        if GlobalHydra.instance().is_initialized():
            raise ConfigError(f"{self.name}.fit cannot compose its training config inside a running Hydra app",
                              fix="call it from sdmr-bench or plain Python")
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3", job_name=self.name):
            cfg = compose("train", overrides=["model=coco_finetune", "logger=none"])
        p = self.params
        OmegaConf.set_struct(cfg, False)
        cfg.paths.output_dir = str(run_dir)
        cfg.seed = p.seed
        cfg.data.input_encoding = self.spec().to_dict()
        cfg.model.init_weights = None if init is None else str(init)
        cfg.model.optimizer.lr = p.lr
        cfg.model.scheduler.kind = "constant"  # the paper: 10 epochs at lr 0.001
        cfg.model.scheduler.warmup_iters = 0
        cfg.trainer.accelerator = p.accelerator
        cfg.trainer.max_epochs = p.epochs
        cfg.trainer.max_steps = p.max_steps
        cfg.trainer.limit_val_batches = 0  # no validation split: the fixed schedule decides
        cfg.trainer.log_every_n_steps = 1
        cfg.callbacks.model_checkpoint.monitor = None
        cfg.callbacks.model_checkpoint.filename = "epoch{epoch:03d}-step{step:06d}"
        last = run_dir / "checkpoints" / "last.ckpt"
        cfg.ckpt_path = str(last) if last.is_file() else None  # a killed fine-tune continues
        return cfg

    def _export(self, checkpoint: Path, exported: Path, result: dict, num_images: int) -> None:
        from sdmr.model.checkpoint import export_model, read_model_file

        trained = read_model_file(checkpoint)
        init = self.init_weights()
        card = {
            "name": self.name,
            "pretrained": init is not None,
            "init_weights": None if init is None else str(init),
            "fine_tuned": {"images": num_images, "epochs": self.params.epochs, "lr": self.params.lr,
                           "steps": result.get("global_step")},
        }
        export_model(trained.state_dict, trained.model_kwargs or {}, trained.input_spec or self.spec(), exported,
                     trained.train_focal_px, model_card=card)

    # ------------------------------------------------------------------ predict
    @property
    def segmenter(self) -> Any:
        if self._segmenter is None:
            if self.weights_path is None:
                raise ConfigError(f"{self.name} has no fine-tuned weights to predict with",
                                  fix=f"call fit first (--fit-split train), or pass --param {self.name}.checkpoint=PATH")
            from sdmr.model.inference import Segmenter

            # the paper's baseline is plain Mask R-CNN: none of sdmr's depth post-processing stages
            segmenter = Segmenter(self.weights_path, score_threshold=self.params.score_threshold,
                                  device=self.params.device, input_scale=1.0, trim_below_height=None,
                                  surface_ratio=None)
            if segmenter.input_spec != self.spec():
                raise DataError(f"checkpoint reads {segmenter.input_spec.describe()}, but {self.name} feeds "
                                f"{self.spec().describe()}", self.weights_path,
                                f"pass a checkpoint fine-tuned by {self.name}")
            self._segmenter = segmenter
        return self._segmenter

    def predict(self, sample: Sample) -> Instances:
        return self.segmenter.segment(sample["depth"], sample.get("intrinsics"), sample.get("color"))

    def result_notes(self) -> dict[str, Any]:
        """``pretrained``: whether the weights started from COCO (the paper's baseline) or from scratch."""
        if self.weights_path is None or not self.weights_path.is_file():
            return {}
        card = self.segmenter.model_file.model_card or {}
        pretrained = card.get("pretrained")
        return {} if pretrained is None else {"pretrained": bool(pretrained),
                                               "init_weights": card.get("init_weights")}


class FineTunedColorMaskRCNN(FineTunedMaskRCNN):
    name = "ft_maskrcnn_color"
    summary = "Mask R-CNN (ResNet-50 FPN), COCO-pretrained, fine-tuned on the colour images of --fit-split"
    inputs = ("color",)

    def spec(self) -> InputSpec:
        return InputSpec("color", "rgb")


class FineTunedDepthMaskRCNN(FineTunedMaskRCNN):
    name = "ft_maskrcnn_depth"
    summary = "Mask R-CNN (ResNet-50 FPN), COCO-pretrained, fine-tuned on the depth images of --fit-split"
    Params = DepthFineTuneParams

    def spec(self) -> InputSpec:
        spec = input_spec(self.params.depth_encoding)
        if spec.needs_color:
            raise ConfigError(f"{self.name} reads depth; depth_encoding={self.params.depth_encoding!r} is colour",
                              fix="use ft_maskrcnn_color for colour, or a depth encoding such as wisdom_fixed")
        return spec
