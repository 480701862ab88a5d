"""Every config composes; bad configs fail with Hydra's or our clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from hydra.utils import instantiate
from omegaconf import OmegaConf

from sdmr.data.errors import DataError
from sdmr.model.sweep import sweep_commands, sweep_runs
from sdmr.train import check_config

CONF = Path(__file__).resolve().parents[2] / "conf"


def _compose(overrides: list[str]):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="train", overrides=overrides)


@pytest.mark.parametrize("experiment", sorted(p.stem for p in (CONF / "experiment").glob("*.yaml")))
def test_every_experiment_composes(experiment, tmp_path):
    cfg = _compose([f"experiment={experiment}", f"data.root={tmp_path}", f"paths.output_dir={tmp_path}"])
    OmegaConf.resolve(cfg)
    assert cfg.task_name == experiment
    assert cfg.model.input_encoding == cfg.data.input_encoding
    assert len(cfg.model.model_kwargs.anchor_sizes) == 5


def test_paper_and_cpu_small_settings(tmp_path):
    paper = _compose(["experiment=paper", f"data.root={tmp_path}"])
    assert (paper.trainer.max_epochs, paper.data.batch_size, paper.data.pad_to) == (60, 5, 512)
    assert paper.data.input_encoding == "wisdom_fixed" and paper.model.model_kwargs.backbone_depth == 35
    assert paper.model.optimizer.lr == 0.01 and paper.trainer.gradient_clip_val == 10
    small = _compose(["experiment=cpu_small", f"data.root={tmp_path}"])
    assert small.trainer.accelerator == "cpu" and small.data.pad_to is None
    assert list(small.model.model_kwargs.anchor_sizes) == [16, 32, 64, 128, 256]


@pytest.mark.parametrize(
    "group,option",
    [
        ("model", "resnet50"),
        ("model", "coco_finetune"),
        ("trainer", "ddp"),
        ("trainer", "gpu"),
        ("logger", "none"),
    ],
)
def test_group_options_compose(group, option, tmp_path):
    cfg = _compose([f"{group}={option}", f"data.root={tmp_path}", f"paths.output_dir={tmp_path}"])
    if option == "resnet50":
        module = instantiate(cfg.model)
        assert len(module.model.backbone.body.layer3) == 6
        assert module.hparams.model_kwargs["backbone_depth"] == 50
    if option == "coco_finetune":
        assert cfg.model.model_kwargs.norm == "frozen_batch"
        with pytest.raises(DataError, match="model.init_weights"):
            check_config(cfg)
    if option == "ddp":
        assert cfg.trainer.strategy == "ddp"


def test_unknown_key_and_missing_root_are_clear_errors(tmp_path, train_cli):
    with pytest.raises(ConfigCompositionException, match="no_such_key"):
        _compose([f"data.root={tmp_path}", "data.no_such_key=1"])
    with pytest.raises(DataError, match="data.root is required"):
        check_config(_compose([]))
    with pytest.raises(DataError, match="dataset folder not found"):
        check_config(_compose([f"data.root={tmp_path / 'absent'}"]))
    proc = train_cli([f"data.root={tmp_path}", "model.model_kwargs.no_such_key=3"])
    assert proc.returncode != 0 and "no_such_key" in proc.stderr
    proc = train_cli(["logger=csv"])
    assert proc.returncode != 0 and "data.root is required" in proc.stderr


def test_sweep_enumerates_paper_fig6_sizes_and_each_run_composes(tmp_path):
    path = CONF / "sweep" / "train_size.yaml"
    assert [r["data.train_size"] for r in sweep_runs(path)] == [4000, 8000, 20000, 40000]
    commands = sweep_commands(path)
    assert len(commands) == 4
    for argv in commands:
        assert argv[:3] == ["python", "-m", "sdmr.train"]
        overrides = [a for a in argv[3:] if not a.startswith("data.root=")] + [f"data.root={tmp_path}"]
        cfg = _compose(overrides)
        assert cfg.data.train_size in (4000, 8000, 20000, 40000) and cfg.logger.wandb.offline is False


def test_sweep_files_that_cannot_be_used_raise_data_error_naming_them(tmp_path):
    missing = tmp_path / "missing.yaml"
    for fn in (sweep_runs, sweep_commands):
        with pytest.raises(DataError, match="missing.yaml: cannot read sweep file.*Fix:"):
            fn(missing)
    random = tmp_path / "random.yaml"
    random.write_text("method: random\nparameters: {}\n")
    with pytest.raises(DataError, match="random.yaml: not a W&B grid sweep.*Fix:"):
        sweep_commands(random)
