"""Ctrl-C (SIGINT) and SIGTERM to real runs: a clean exit (130 / 143, one hint line, no traceback)
that keeps what was done, and a rerun of the same command that finishes the job."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from sdmr.data.toy import make_toy_dataset
from sdmr.model.graceful_stop import READY_LINE

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline", "PYTHONWARNINGS": "ignore"}
ENV.pop("SDMR_DEBUG", None)

# real CLIs (training, generation with workers, the benchmark) started, interrupted and resumed
pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _interactive_sigint():
    """A shell that starts pytest with ``&`` or ``nohup`` hands it SIGINT ignored, which every child inherits
    (and Python then keeps ignored). A Python handler here is reset to the default in each exec'd child, so
    the CLIs are tested as a terminal runs them, whatever started pytest."""
    previous = signal.getsignal(signal.SIGINT)
    if previous == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([str(a) for a in args], cwd=REPO, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for(condition, proc: subprocess.Popen, timeout: float = 180, poll: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"ended before the signal (rc {proc.returncode}): {proc.communicate()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("timed out waiting for the run to start")
        time.sleep(poll)


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.is_file() else 0


def test_sigint_during_training_saves_last_ckpt_and_the_resume_continues(tmp_path):
    toy = make_toy_dataset(tmp_path / "toy", num_images=8, height=64, width=64, seed=0)
    run = tmp_path / "run"
    common = ["experiment=cpu_small", f"data.root={toy}", "logger=csv", "data.num_workers=0", "data.val_size=2",
              "data.batch_size=1", f"hydra.run.dir={run}"]
    proc = subprocess.Popen([sys.executable, "-m", "sdmr.train", *common, "trainer.max_steps=100000",
                             "trainer.val_check_interval=100000"], cwd=REPO, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in proc.stderr:  # the callback announces the first step; the signal lands mid-run
        seen.append(line)
        if READY_LINE in line:
            break
    else:
        raise AssertionError("".join(seen)[-3000:])
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=240)
    stderr = "".join(seen) + rest
    assert proc.returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr
    last = run / "checkpoints" / "last.ckpt"
    assert f"ckpt_path={last}" in stderr, stderr[-2000:]
    step = torch.load(last, map_location="cpu", weights_only=True)["global_step"]
    assert step >= 1

    resumed = subprocess.run([sys.executable, "-m", "sdmr.train", *common, f"trainer.max_steps={step + 2}",
                              f"trainer.val_check_interval={step + 2}", f"ckpt_path={last}"],
                             cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300, check=False)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads((run / "metrics.json").read_text())["global_step"] == step + 2
    assert torch.load(last, map_location="cpu", weights_only=True)["global_step"] == step + 2
    assert sorted(p.name for p in (run / "checkpoints").glob("last*.ckpt")) == ["last.ckpt"]  # no last-v1.ckpt

    fresh = subprocess.run([sys.executable, "-m", "sdmr.train", *common, "trainer.max_steps=1"], cwd=REPO,
                           env=ENV, capture_output=True, text=True, timeout=300, check=False)
    assert fresh.returncode == 2 and "Traceback" not in fresh.stderr
    assert f"ckpt_path={last}" in fresh.stderr and "hydra.run.dir" in fresh.stderr


def test_sigint_to_sdmr_generate_with_workers_exits_cleanly_and_the_rerun_finishes(tmp_path):
    images = 300  # the tiny renderer writes ~15 per second: 16 could all be done before the signal landed
    out = tmp_path / "data"
    command = [BIN / "sdmr-generate", "--output", out, "--num-images", images, "--seed", "0", "--height", "64",
               "--width", "64", "--workers", "2", "--renderer", "tiny", "--no-progress"]
    proc = _start(command)
    _wait_for(lambda: (out / "image_meta").is_dir() and any((out / "image_meta").iterdir()), proc, poll=0.02)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr and "rerun the same command" in stderr, stderr[-3000:]
    assert 1 <= len(list((out / "image_meta").glob("*.json"))) < images  # the interrupted run kept a partial set
    rerun = subprocess.run([str(a) for a in command], cwd=REPO, env=ENV, capture_output=True, text=True,
                           timeout=600, check=False)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert len(list((out / "image_meta").glob("*.json"))) == images


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_signal_to_sdmr_bench_with_workers_exits_cleanly_and_the_rerun_finishes(tmp_path, signum):
    # 600 test images: enough work that the signal lands mid-run (40 finished before a 0.2 s poll on CI)
    toy = make_toy_dataset(tmp_path / "toy", num_images=1200, height=96, width=96, seed=0, test_fraction=0.5)
    out = tmp_path / "run"
    command = [BIN / "sdmr-bench", "--method", "connected_components", "--dataset", toy, "--output", out,
               "--workers", "2", "--no-progress", "--overlays", "0"]
    proc = _start(command)
    progress = out / "methods" / "connected_components" / "progress.jsonl"
    _wait_for(lambda: _lines(progress) >= 1, proc, poll=0.02)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, stderr[-3000:]
    assert "Traceback" not in stderr and "rerun the same command" in stderr, stderr[-3000:]
    assert 1 <= _lines(progress) < 600 and not (out / "results.json").exists()
    rerun = subprocess.run([str(a) for a in command], cwd=REPO, env=ENV, capture_output=True, text=True,
                           timeout=300, check=False)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert json.loads((out / "results.json").read_text())["methods"]["connected_components"]["num_images"] == 600
