"""Whole runs: reproducible to the byte, resumable after a kill, the same with workers, clear errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sdmr.errors import DataError
from sdmr.grasp.cli import main
from sdmr.grasp.runner import GraspRun, run_grasping

METHODS = ["oracle", "connected_components"]
TINY_FLAGS = ["--width", "128", "--height", "96", "--min-objects", "3", "--max-objects", "4"]


def _run(out: Path, config, **kw) -> dict:
    return run_grasping(GraspRun(output=str(out), methods=METHODS, config=config, show_progress=False, **kw))


def _records(out: Path, name: str) -> bytes:
    return (out / "methods" / name / "trials.jsonl").read_bytes()


def test_the_same_seed_gives_the_same_trials_byte_for_byte(tmp_path, tiny_config):
    first = _run(tmp_path / "a", tiny_config(), examples=1)
    _run(tmp_path / "b", tiny_config(), examples=0)
    for name in METHODS:
        assert _records(tmp_path / "a", name) == _records(tmp_path / "b", name)
    assert (tmp_path / "a" / "trials.csv").read_bytes() == (tmp_path / "b" / "trials.csv").read_bytes()
    _run(tmp_path / "c", tiny_config(seed=2), examples=0)
    assert _records(tmp_path / "a", "oracle") != _records(tmp_path / "c", "oracle")  # the seed matters
    oracle = first["methods"]["oracle"]
    assert oracle["trials"] == 2 and sum(oracle["outcomes"].values()) == 2
    assert 0.0 <= oracle["ci95"][0] <= oracle["success_rate"] <= oracle["ci95"][1] <= 1.0
    table = (tmp_path / "a" / "table.md").read_text()
    assert "oracle (ground-truth masks: upper bound)" in table and "connected_components" in table
    picture = Image.open(tmp_path / "a" / "examples.png")
    assert picture.width > 3 * 128 and picture.height > 96  # colour + one tile per method


def test_a_run_extends_and_resumes_without_redoing_trials(tmp_path, tiny_config):
    out = tmp_path / "run"
    _run(out, tiny_config(trials=2), examples=0)
    before = _records(out, "oracle")
    timings = out / "methods" / "oracle" / "timings.jsonl"
    first_timings = timings.read_text()
    lines = before.decode().splitlines(keepends=True)
    (out / "methods" / "oracle" / "trials.jsonl").write_text(lines[0] + lines[1][:15])  # killed mid-write
    document = _run(out, tiny_config(trials=3), examples=0)
    after = _records(out, "oracle").decode().splitlines(keepends=True)
    assert after[:2] == lines  # trial 1 recomputed to the same bytes
    assert [json.loads(line)["trial"] for line in after] == [0, 1, 2]
    assert timings.read_text().startswith(first_timings)  # trial 0 was not run again
    assert len(timings.read_text().splitlines()) == 4  # trial 0, trial 1 twice, trial 2
    assert document["methods"]["connected_components"]["trials"] == 3


def test_a_resume_with_other_settings_is_refused(tmp_path, tiny_config):
    out = tmp_path / "run"
    _run(out, tiny_config(trials=1), examples=0)
    with pytest.raises(DataError, match="other settings .*scene") as err:
        _run(out, tiny_config(trials=1, scene="table"), examples=0)
    assert "run_config.json" in str(err.value)
    with pytest.raises(DataError, match="other parameters"):
        run_grasping(GraspRun(output=str(out), methods=["connected_components"], config=tiny_config(trials=1),
                              params=["max_depth_jump=0.02"], show_progress=False, examples=0))


@pytest.mark.parametrize(("args", "message"), [
    (["--methods", "oracle", "--workers", "0"], "--workers must be >= 1"),
    (["--methods", "oracle", "--trials", "0"], "--trials must be an integer >= 1"),
    (["--methods", "oracle", "--min-objects", "6", "--max-objects", "5"], "--max-objects 5 is below --min-objects 6"),
    (["--methods", "oracle,connected_component"], "unknown method 'connected_component'. Did you mean 'connected_components'?"),
    (["--methods", "oracle", "--param", "oracle.x=1"], "the oracle has no parameters"),
    (["--methods", "connected_components", "--param", "max_depth_jump=-1"], "max_depth_jump=-1.0 cannot work"),
])
def test_bad_input_is_one_clear_error_line(tmp_path, capsys, args, message):
    assert main([*args, "--output", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sdmr-grasp: error:") and message in err
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_a_folder_that_is_not_a_grasping_run_is_left_alone(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["--methods", "oracle", "--output", str(tmp_path)]) == 2
    assert "not an sdmr-grasp run folder" in capsys.readouterr().err


@pytest.mark.slow
def test_workers_and_a_sigkill_leave_the_same_results(tmp_path):
    """A real CLI run killed with SIGKILL mid-run, resumed with 2 workers, equals one uninterrupted run."""
    flags = ["--methods", ",".join(METHODS), "--trials", "5", "--examples", "0", "--no-progress", *TINY_FLAGS]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    assert main([*flags, "--output", str(clean)]) == 0
    proc = subprocess.Popen([sys.executable, "-m", "sdmr.grasp.cli", *flags, "--output", str(killed)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = killed / "methods" / "connected_components" / "trials.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (log.exists() and len(log.read_bytes().splitlines()) >= 2):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(log.read_bytes().splitlines())
    assert 2 <= done < 5, "the run should have been killed part-way"
    assert main([*flags, "--output", str(killed), "--workers", "2"]) == 0
    assert (clean / "trials.csv").read_bytes() == (killed / "trials.csv").read_bytes()
    for name in METHODS:
        ordered = sorted(_records(killed, name).splitlines(), key=lambda line: json.loads(line)["trial"])
        assert ordered == _records(clean, name).splitlines()
    results = json.loads((killed / "results.json").read_text())["methods"]["oracle"]
    assert results["trials"] == 5 and np.isfinite(results["seconds_per_trial"])
