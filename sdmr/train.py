"""``python -m sdmr.train``: train SD Mask R-CNN from a Hydra config (``conf/train.yaml``).

``train(cfg)`` is a pure function (config in, metrics out) so tests and sweeps call it
directly; ``main`` only adds Hydra's command line and run directory.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from sdmr.data.atomic import atomic_write_text
from sdmr.data.errors import DataError

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "conf")
METRICS_FILE = "metrics.json"


def check_config(cfg: DictConfig) -> None:
    """Fail before any work on the mistakes users make most (no dataset, a bad resume path)."""
    if OmegaConf.is_missing(cfg.data, "root"):
        raise DataError(
            "no dataset given (data.root is required)",
            fix="python -m sdmr.train data.root=/path/to/dataset (a folder made by sdmr-generate or WISDOM-Sim)",
        )
    roots = cfg.data.root if OmegaConf.is_list(cfg.data.root) else [cfg.data.root]
    for root in map(Path, roots):
        if not root.is_dir():
            raise DataError(
                "dataset folder not found", root, "pass an existing folder as data.root=DIR (or a list: data.root=[A,B])"
            )
    ckpt = cfg.get("ckpt_path")
    if ckpt and not Path(ckpt).is_file():
        raise DataError(
            "checkpoint to resume from not found", ckpt, "pass ckpt_path=RUN_DIR/checkpoints/last.ckpt"
        )
    # .keys(): DictConfig.__contains__ is False for a MISSING ("???") value, which is what we look for
    if "init_weights" in cfg.model.keys() and OmegaConf.is_missing(cfg.model, "init_weights"):  # noqa: SIM118
        raise DataError(
            "this model config needs initial weights", fix="add model.init_weights=/path/to/weights.pth"
        )


def _instantiate_all(group: DictConfig | None) -> list[Any]:
    return [instantiate(node) for node in (group or {}).values() if node is not None and "_target_" in node]


def _save_final_last(trainer: pl.Trainer) -> None:
    """Write ``last.ckpt`` at the final step when ``max_steps`` ended the run between validations.

    ModelCheckpoint saves on validation (and at epoch ends only when validation runs per epoch),
    so with ``val_check_interval=N`` the steps after the last validation were lost; a run must be
    resumable from, and exportable at, the step it stopped at.
    """
    checkpoint = trainer.checkpoint_callback
    if not isinstance(checkpoint, pl.callbacks.ModelCheckpoint) or not checkpoint.save_last or not checkpoint.dirpath:
        return
    if getattr(checkpoint, "_last_global_step_saved", None) != trainer.global_step:
        trainer.save_checkpoint(str(Path(checkpoint.dirpath) / f"{checkpoint.CHECKPOINT_NAME_LAST}.ckpt"))


def train(cfg: DictConfig) -> dict[str, Any]:
    """Fit (or resume with ``cfg.ckpt_path``), then write and return the final metrics."""
    check_config(cfg)
    pl.seed_everything(cfg.seed, workers=True)
    output_dir = Path(cfg.paths.output_dir)
    datamodule = instantiate(cfg.data)
    module = instantiate(cfg.model)
    if module.hparams.get("train_focal_px") is None and hasattr(datamodule, "train_focal_px"):
        datamodule.setup("fit")  # the focal length the network trains at goes into every checkpoint
        module.hparams["train_focal_px"] = datamodule.train_focal_px()
    loggers = _instantiate_all(cfg.get("logger"))
    callbacks = _instantiate_all(cfg.get("callbacks"))
    if not loggers:  # LearningRateMonitor refuses to run without a logger
        callbacks = [c for c in callbacks if not isinstance(c, pl.callbacks.LearningRateMonitor)]
    trainer: pl.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    _save_final_last(trainer)

    result: dict[str, Any] = {k: float(v) for k, v in trainer.callback_metrics.items()}
    checkpoint = trainer.checkpoint_callback
    result.update(
        global_step=int(trainer.global_step),
        epoch=int(trainer.current_epoch),
        train_size=cfg.data.get("train_size"),
        train_images=len(datamodule.train_set) if datamodule.train_set is not None else None,
        best_model_path=getattr(checkpoint, "best_model_path", "") or "",
        best_AP=float(checkpoint.best_model_score)
        if getattr(checkpoint, "best_model_score", None) is not None
        else None,
    )
    if trainer.is_global_zero:
        atomic_write_text(output_dir / METRICS_FILE, json.dumps(result, indent=2))
    return result


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Command line entry; returns val/AP for Hydra sweepers that optimise it.

    A bad setting or input (a ``DataError``, also when Hydra's ``instantiate`` wrapped it) ends the
    run with its one-line message and exit code 2, not a traceback.
    """
    try:
        result = train(cfg)
    except Exception as err:
        cause = err if isinstance(err, DataError) else err.__cause__
        if not isinstance(cause, DataError):
            raise
        print(f"python -m sdmr.train: error: {cause}", file=sys.stderr)
        raise SystemExit(2) from None
    return result.get("val/AP")


if __name__ == "__main__":
    main()
