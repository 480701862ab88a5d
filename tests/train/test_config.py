"""Every config composes; bad configs fail with Hydra's or our clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from hydra.utils import instantiate
from omegaconf import OmegaConf

from sdmr.data.errors import DataError
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


def test_sweep_file_lists_paper_fig6_sizes_and_each_run_composes(tmp_path):
    """conf/sweep/train_size.yaml (run by ``wandb agent``): every grid value with its fixed overrides composes."""
    import yaml

    spec = yaml.safe_load((CONF / "sweep" / "train_size.yaml").read_text())
    assert spec["method"] == "grid" and spec["command"][1:4] == ["python", "-m", "sdmr.train"]
    sizes = spec["parameters"]["data.train_size"]["values"]
    assert sizes == [4000, 8000, 20000, 40000]
    fixed = [part for part in spec["command"][4:] if not part.startswith("${")]
    for size in sizes:
        cfg = _compose([*fixed, f"data.train_size={size}", f"data.root={tmp_path}"])
        assert cfg.data.train_size == size and cfg.logger.wandb.offline is False


def test_colour_input_reaches_the_data_module_and_the_model(tmp_path):
    cfg = _compose(["data.input_encoding=color", f"data.root={tmp_path}", f"paths.output_dir={tmp_path}"])
    datamodule, module = instantiate(cfg.data), instantiate(cfg.model)
    assert datamodule.spec.needs_color and datamodule.dataset_kwargs["load_color"] is True
    assert module.hparams.input_spec["modality"] == "color" and module.input_spec == datamodule.spec
    from sdmr.errors import ConfigError
    from sdmr.train import _check_same_input

    _check_same_input(module, datamodule)
    mismatch = _compose(["data.input_encoding=color", "model.input_encoding=median_relative", f"data.root={tmp_path}",
                         f"paths.output_dir={tmp_path}"])
    with pytest.raises(ConfigError, match=r"model's input \(depth/median_relative\) differs from the data's"):
        _check_same_input(instantiate(mismatch.model), datamodule)
