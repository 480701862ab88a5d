"""``python -m sdmr.train`` end to end on a tiny real dataset: checkpoints, resume, validation, DDP, sweeps."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from sdmr.model.checkpoint import build_from_file
from sdmr.model.lightning_module import SDMaskRCNNModule
from sdmr.train import train

CONF = Path(__file__).resolve().parents[2] / "conf"


# every test here trains end to end (12-42 s each on 2 cores)
pytestmark = pytest.mark.slow


def _steps_logged(run: Path) -> list[int]:
    with open(run / "csv" / "metrics.csv") as handle:
        return sorted({int(row["step"]) for row in csv.DictReader(handle) if row.get("train/loss")})


def test_cli_trains_writes_safe_checkpoint_and_resumes_exactly(toy_root, tmp_path, train_cli, fast, repo):
    first = tmp_path / "first"
    proc = train_cli(
        [
            "experiment=cpu_small",
            f"data.root={toy_root}",
            "trainer.max_steps=3",
            "trainer.log_every_n_steps=1",
            f"hydra.run.dir={first}",
            *fast,
        ]
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = first / "checkpoints" / "last.ckpt"
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    assert state["global_step"] == 3
    assert state["hyper_parameters"]["input_spec"]["modality"] == "depth"
    assert state["hyper_parameters"]["input_spec"]["encoding"] == "median_relative"
    assert state["hyper_parameters"]["model_kwargs"]["anchor_sizes"] == [16, 32, 64, 128, 256]
    metrics = json.loads((first / "metrics.json").read_text())
    assert metrics["global_step"] == 3 and metrics["train_images"] == 6
    assert all(torch.isfinite(torch.tensor(metrics[k])) for k in ("train/loss", "train/loss_mask"))

    curve = subprocess.run(
        [
            sys.executable,
            str(repo / "scripts" / "plot_training_curve.py"),
            str(first),
            "--out",
            str(tmp_path / "c.png"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert curve.returncode == 0 and "3 loss points" in curve.stdout, curve.stdout + curve.stderr
    assert (tmp_path / "c.png").stat().st_size > 1000

    second = tmp_path / "second"
    proc = train_cli(
        [
            "experiment=cpu_small",
            f"data.root={toy_root}",
            "trainer.max_steps=5",
            "trainer.log_every_n_steps=1",
            f"hydra.run.dir={second}",
            f"ckpt_path={ckpt}",
            *fast,
        ]
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((second / "metrics.json").read_text())["global_step"] == 5
    assert _steps_logged(second) == [3, 4]  # continued, not restarted (CSV steps are 0-based)
    resumed = torch.load(second / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert resumed["lr_schedulers"][0]["last_epoch"] == 5

    # resumed in its own folder: the CSV log keeps the first run's rows and appends (Lightning's deleted them)
    same = [a for a in proc.args[3:] if not a.startswith(("hydra.run.dir=", "ckpt_path="))]
    again = train_cli([*same, f"hydra.run.dir={first}", f"ckpt_path={ckpt}"])
    assert again.returncode == 0, again.stderr[-3000:]
    assert _steps_logged(first) == [0, 1, 2, 3, 4]

    module = SDMaskRCNNModule.load_from_checkpoint(ckpt, weights_only=True, map_location="cpu")
    model, encoding, _ = build_from_file(ckpt)
    assert encoding.modality == "depth" and encoding.encoding == "median_relative"
    for key, value in module.model.state_dict().items():
        assert torch.equal(value, model.state_dict()[key]), key


def test_validation_logs_coco_ap_and_keeps_the_best_checkpoint(toy_root, tmp_path, fast):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=[
                "experiment=cpu_small",
                f"data.root={toy_root}",
                f"paths.output_dir={tmp_path}",
                "trainer.max_steps=2",
                "trainer.val_check_interval=2",
                *fast,
            ],
        )
    result = train(cfg)
    for key in ("val/AP", "val/AP50", "val/AP75", "val/AR"):
        assert 0.0 <= result[key] <= 1.0
    assert Path(result["best_model_path"]).is_file() and result["best_AP"] == result["val/AP"]
    assert json.loads((tmp_path / "metrics.json").read_text())["val/AR"] == result["val/AR"]


def test_ddp_on_two_cpu_processes_runs_steps_and_validation(toy_root, tmp_path, train_cli, fast):
    run = tmp_path / "ddp"
    proc = train_cli(
        [
            "experiment=cpu_small",
            f"data.root={toy_root}",
            "trainer.accelerator=cpu",
            "trainer.devices=2",
            "trainer.strategy=ddp",
            "trainer.max_steps=2",
            "trainer.val_check_interval=2",
            f"hydra.run.dir={run}",
            *fast,
        ]
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    output = proc.stdout + proc.stderr
    assert "distributed_backend=gloo" in output and "GLOBAL_RANK: 1, MEMBER: 2/2" in output
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["global_step"] == 2 and 0.0 <= metrics["val/AP"] <= 1.0
    assert (run / "checkpoints" / "last.ckpt").is_file()


def test_hydra_multirun_size_sweep_and_plot(toy_root, tmp_path, train_cli, fast, repo):
    sweep = tmp_path / "sweep"
    proc = train_cli(
        [
            "-m",
            "experiment=cpu_small",
            f"data.root={toy_root}",
            "data.train_size=2,4",
            "trainer.max_steps=1",
            "trainer.val_check_interval=1",
            f"hydra.sweep.dir={sweep}",
            *fast,
        ]
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(json.loads(p.read_text())["train_images"] for p in sweep.rglob("metrics.json")) == [2, 4]
    out = tmp_path / "plot"
    plot = subprocess.run(
        [sys.executable, str(repo / "scripts" / "plot_train_size_sweep.py"), str(sweep), "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert plot.returncode == 0, plot.stdout + plot.stderr
    with open(out / "train_size_sweep.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["train_images"]) for r in rows] == [2, 4] and all(0 <= float(r["AP"]) <= 1 for r in rows)
    assert (out / "train_size_sweep.png").stat().st_size > 1000


def test_last_checkpoint_is_written_when_max_steps_ends_between_validations(toy_root, tmp_path, train_cli, fast):
    # 6 training images, batch 2: step 2 of 3 ends the run mid-epoch, long before validation step 100
    run = tmp_path / "mid"
    proc = train_cli(["experiment=cpu_small", f"data.root={toy_root}", "trainer.max_steps=2", f"hydra.run.dir={run}", *fast])
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert state["global_step"] == 2


def test_bad_dataset_settings_end_with_one_line_and_exit_2(toy_root, tmp_path, train_cli, fast):
    missing = train_cli(["experiment=sim2real", f"data.root=[{toy_root},{tmp_path / 'nope'}]", *fast])
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert "dataset folder not found" in missing.stderr and "nope" in missing.stderr
    bad = train_cli(["experiment=sim2real", f"data.root={toy_root}", "data.scale_range=[2,1]", *fast])
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "data.scale_range" in bad.stderr
