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

from sdmr.cli import check_output_dir, run_cli
from sdmr.data.atomic import atomic_write_text
from sdmr.data.errors import DataError
from sdmr.errors import ConfigError, Interrupted, OutputError
from sdmr.model.graceful_stop import GracefulStop, TrainingStopped, last_checkpoint_path, save_last
from sdmr.model.inference import torch_threads
from sdmr.threads import compute_threads

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "conf")
METRICS_FILE = "metrics.json"
PROG = "python -m sdmr.train"
INTERRUPT_HINT = "interrupted before the first training step; nothing to resume - rerun the same command"


def check_config(cfg: DictConfig, data_given: bool = False) -> None:
    """Fail before any work on the mistakes users make most (no dataset, a bad resume path).

    ``data_given``: the caller passes its own DataModule, so ``data.root`` is not used.
    """
    # .keys(): DictConfig.__contains__ is False for a MISSING ("???") value, which is what we look for
    if "init_weights" in cfg.model.keys() and OmegaConf.is_missing(cfg.model, "init_weights"):  # noqa: SIM118
        raise DataError(
            "this model config needs initial weights", fix="add model.init_weights=/path/to/weights.pth"
        )
    if not data_given:
        _check_data_roots(cfg)
    _check_numbers(cfg)
    ckpt = cfg.get("ckpt_path")
    if ckpt:
        check_resume_checkpoint(Path(ckpt))
    _check_run_folder(cfg, ckpt)


def _check_data_roots(cfg: DictConfig) -> None:
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
    for root in map(Path, roots):
        if str(root) in ("", ".") or not any(p.name[:1] != "." for p in root.iterdir()):
            raise DataError("dataset folder is empty", root,
                            "pass data.root=DIR, a folder made by sdmr-generate (or WISDOM-Sim)")


def _check_numbers(cfg: DictConfig) -> None:
    """The settings whose wrong value would fail deep inside Lightning or a DataLoader."""
    checks = (
        ("data.batch_size", cfg.data.get("batch_size"), lambda v: v >= 1, "data.batch_size=2"),
        ("data.num_workers", cfg.data.get("num_workers"), lambda v: v >= 0, "data.num_workers=0 (no worker processes)"),
        ("trainer.max_steps", cfg.trainer.get("max_steps"), lambda v: v == -1 or v >= 1,
         "trainer.max_steps=400 (or -1: train for trainer.max_epochs)"),
        ("trainer.max_epochs", cfg.trainer.get("max_epochs"), lambda v: v == -1 or v >= 1, "trainer.max_epochs=60"),
    )
    for key, value, ok, fix in checks:
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not ok(value):
            raise ConfigError(f"{key}={value!r} cannot work", fix=f"pass e.g. {fix}")


def check_resume_checkpoint(path: Path) -> None:
    """``ckpt_path=`` must be a training checkpoint that loads with ``weights_only=True``.

    Checked before Lightning opens it: Lightning's own load would fail with a traceback on a
    corrupt file and, on a hostile one, needs ``weights_only`` to refuse code execution.
    """
    from sdmr.model.checkpoint import _torch_load

    if not path.is_file():
        raise DataError("checkpoint to resume from not found", path, "pass ckpt_path=RUN_DIR/checkpoints/last.ckpt")
    state = _torch_load(path)  # a DataError naming the file when corrupt or holding arbitrary objects
    missing = [k for k in ("state_dict", "global_step", "optimizer_states") if not isinstance(state, dict) or k not in state]
    if missing:
        raise DataError(
            f"not a training checkpoint to resume from (no {', '.join(missing)})",
            path,
            "pass ckpt_path=RUN_DIR/checkpoints/last.ckpt of a python -m sdmr.train run (an exported model "
            "starts a new run with model.init_weights=PATH where the model config has it)",
        )


def _check_run_folder(cfg: DictConfig, ckpt: str | None) -> None:
    """A fresh run must not share a checkpoint folder with an earlier run: Lightning would write
    ``last-v1.ckpt`` next to the old ``last.ckpt``, and anything reading ``last.ckpt`` would get the old one."""
    folder = _checkpoint_dir(cfg)
    if folder is None or not folder.is_dir():
        return
    found = sorted(p.name for p in folder.glob("*.ckpt"))
    if not found:
        return
    if ckpt and Path(ckpt).resolve().parent == folder.resolve():
        return  # resuming in its own folder: ModelCheckpoint keeps writing last.ckpt
    resume = folder / "last.ckpt" if "last.ckpt" in found else folder / found[-1]
    raise OutputError(
        f"the run folder already holds checkpoints of an earlier run ({', '.join(found[:3])})",
        folder,
        f"to continue that run pass ckpt_path={resume}; to start a new one pass another hydra.run.dir",
    )


def _checkpoint_dir(cfg: DictConfig) -> Path | None:
    try:
        node = (cfg.get("callbacks") or {}).get("model_checkpoint")
        if node is not None and node.get("dirpath"):
            return Path(node.dirpath)
        return Path(cfg.paths.output_dir) / "checkpoints"
    except Exception:  # noqa: BLE001 - no run folder resolvable (e.g. composed without Hydra's runtime)
        return None


def _check_same_input(module: pl.LightningModule, datamodule: pl.LightningDataModule) -> None:
    """The data must be encoded the way the model stores it will be (its checkpoints carry the spec)."""
    model_spec, data_spec = getattr(module, "input_spec", None), getattr(datamodule, "spec", None)
    if model_spec is not None and data_spec is not None and model_spec != data_spec:
        raise ConfigError(
            f"the model's input ({model_spec.describe()}) differs from the data's ({data_spec.describe()})",
            fix="set data.input_encoding only (model.input_encoding follows it by default)",
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
        save_last(trainer, last_checkpoint_path(trainer))  # registered, so a resume here keeps last.ckpt


def train(cfg: DictConfig, datamodule: pl.LightningDataModule | None = None) -> dict[str, Any]:
    """Fit (or resume with ``cfg.ckpt_path``), then write and return the final metrics.

    ``datamodule`` replaces ``cfg.data`` (e.g. ``DepthDataModule.from_samples`` for a benchmark
    method's ``fit``); everything else — model, callbacks, trainer, checkpoints — comes from ``cfg``.
    """
    check_config(cfg, data_given=datamodule is not None)
    pl.seed_everything(cfg.seed, workers=True)
    output_dir = Path(cfg.paths.output_dir)
    datamodule = instantiate(cfg.data) if datamodule is None else datamodule
    module = instantiate(cfg.model)
    _check_same_input(module, datamodule)
    if module.hparams.get("train_focal_px") is None and hasattr(datamodule, "train_focal_px"):
        datamodule.setup("fit")  # the focal length the network trains at goes into every checkpoint
        module.hparams["train_focal_px"] = datamodule.train_focal_px()
    loggers = _instantiate_all(cfg.get("logger"))
    callbacks = _instantiate_all(cfg.get("callbacks"))
    if not loggers:  # LearningRateMonitor refuses to run without a logger
        callbacks = [c for c in callbacks if not isinstance(c, pl.callbacks.LearningRateMonitor)]
    callbacks.append(GracefulStop())  # Ctrl-C / SIGTERM: finish the step, save last.ckpt, exit 130 / 143
    trainer: pl.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    try:  # torch's pool sized by SDMR_THREADS (sdmr.threads: a full-core pool collapses on a shared machine)
        with torch_threads(compute_threads()):
            trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    except TrainingStopped as stop:
        raise Interrupted(stop.signum, stop.hint) from None
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

    Ends like every sdmr command (:func:`sdmr.cli.run_cli`): a bad setting or input (also when
    Hydra's ``instantiate`` wrapped it) is one line and exit code 2, not a traceback; Ctrl-C or
    SIGTERM finishes the current step, saves ``last.ckpt`` and exits 130 / 143 with the
    ``ckpt_path=`` to resume from.
    """
    result: dict[str, Any] = {}

    def run() -> int:
        result.update(train(cfg))
        return 0

    code = run_cli(run, PROG, INTERRUPT_HINT)
    if code:
        raise SystemExit(code)
    return result.get("val/AP")


def check_run_dir_argument(argv: list[str]) -> None:
    """``hydra.run.dir=DIR`` on the command line: refuse a file or an unwritable folder before
    Hydra tries to create it (which would fail with a traceback of Hydra's own)."""
    for arg in argv:
        key, sep, value = arg.partition("=")
        if sep and key.lstrip("+~") in ("hydra.run.dir", "hydra.sweep.dir") and value and "${" not in value:
            check_output_dir(value, key.lstrip("+~"))


def cli() -> None:
    """``python -m sdmr.train``: the run folder argument checked first, then Hydra."""
    code = run_cli(lambda: check_run_dir_argument(sys.argv[1:]), PROG)
    if code:
        raise SystemExit(code)
    main()


if __name__ == "__main__":
    cli()
