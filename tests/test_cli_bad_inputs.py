"""Every console script and ``python -m sdmr.train``, fed bad arguments as a user would type them.

Each row is a real subprocess on real files (a tiny toy dataset, a corrupt and a hostile
checkpoint, a file where a folder should be, ...). It must fail (non-zero exit) with no
traceback, naming the argument or the file, and must not have written anything it refused.
The training rows are the slow ones (an interpreter with torch + Lightning + Hydra each):
``-k 'not train'`` deselects them. Selected rows run three at a time.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch

from sdmr.data.toy import make_toy_dataset

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ROOT = os.geteuid() == 0  # root writes into chmod 0o500 folders: those rows cannot fail there


class Hostile:
    """Unpickling this runs code: weights_only loading must refuse it."""

    def __reduce__(self):
        return (print, ("hostile checkpoint code ran",))


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("bad")
    f = {"toy": make_toy_dataset(base / "toy", num_images=4, height=64, width=64, seed=0)}
    f["file"] = base / "a_file.txt"
    f["file"].write_text("not a folder")
    f["empty"] = base / "empty_dir"
    f["empty"].mkdir()
    f["foreign"] = base / "foreign"
    f["foreign"].mkdir()
    (f["foreign"] / "notes.txt").write_text("someone else's")
    f["readonly"] = base / "readonly"
    f["readonly"].mkdir()
    f["readonly"].chmod(0o500)
    f["corrupt"] = base / "corrupt.ckpt"
    f["corrupt"].write_bytes(b"PK\x03\x04 this is not a torch file" * 10)
    f["hostile"] = base / "hostile.ckpt"
    torch.save({"state_dict": {}, "global_step": 1, "optimizer_states": [Hostile()]}, f["hostile"])
    f["weights_only_pt"] = base / "plain.pt"
    torch.save({"w": torch.zeros(2)}, f["weights_only_pt"])
    for sub in ("A", "B"):
        (base / "same" / sub).mkdir(parents=True)
        np.save(base / "same" / sub / "x.npy", np.full((32, 32), 0.8, np.float32))
    f["A"], f["B"] = base / "same" / "A", base / "same" / "B"
    old_run = base / "old_run"
    (old_run / "checkpoints").mkdir(parents=True)
    (old_run / "checkpoints" / "last.ckpt").write_bytes(b"an earlier run's checkpoint")
    f["old_run"] = old_run
    f["out"] = base / "out"  # never created by a refused command
    f["train_out"] = base / "train_out"  # Hydra creates the run folder before sdmr.train can check anything
    f["base"] = base
    return f


def _train(*args: str) -> list[str]:
    return [sys.executable, "-m", "sdmr.train", "experiment=cpu_small", "logger=csv", "data.num_workers=0", *args]


# id, command (from the files dict), what the message must name; ids with "train" are the slow rows
CASES: list[tuple[str, object, str]] = [
    ("generate-output-is-a-file", lambda f: ["sdmr-generate", "--output", f["file"], "--num-images", "2"], "a_file.txt"),
    ("generate-output-under-a-file", lambda f: ["sdmr-generate", "--output", f["file"] / "sub", "--num-images", "2"],
     "a_file.txt"),
    ("generate-height-0", lambda f: ["sdmr-generate", "--output", f["out"], "--height", "0"], "--height"),
    ("generate-num-images-negative", lambda f: ["sdmr-generate", "--output", f["out"], "--num-images", "-5"],
     "--num-images"),
    ("generate-seed-negative", lambda f: ["sdmr-generate", "--output", f["out"], "--seed", "-1"], "--seed"),
    ("generate-workers-0", lambda f: ["sdmr-generate", "--output", f["out"], "--workers", "0"], "--workers"),
    ("generate-config-missing", lambda f: ["sdmr-generate", "--output", f["out"], "--config", f["base"] / "no.yaml"],
     "no.yaml"),
    ("generate-merge-missing-shard", lambda f: ["sdmr-generate", "merge", f["out"], f["base"] / "noshard"], "noshard"),
    ("data-check-missing", lambda f: ["sdmr-data", "check", f["base"] / "nodata"], "nodata"),
    ("data-info-empty-folder", lambda f: ["sdmr-data", "info", f["empty"]], "empty_dir"),
    ("data-to-coco-out-is-a-folder", lambda f: ["sdmr-data", "to-coco", f["toy"], f["empty"]], "empty_dir"),
    ("bench-unknown-method", lambda f: ["sdmr-bench", "--method", "no_such_method", "--dataset", f["toy"],
                                        "--output", f["out"]], "no_such_method"),
    ("bench-impossible-param", lambda f: ["sdmr-bench", "--method", "region_growing", "--param", "plane_threshold=-1",
                                          "--dataset", f["toy"], "--output", f["out"]], "plane_threshold"),
    ("bench-impossible-param-ec", lambda f: ["sdmr-bench", "--method", "euclidean_clustering", "--param",
                                             "plane_threshold=-1", "--dataset", f["toy"], "--output", f["out"]],
     "plane_threshold"),
    ("bench-unknown-param", lambda f: ["sdmr-bench", "--method", "connected_components", "--param", "bogus=1",
                                       "--dataset", f["toy"], "--output", f["out"]], "bogus"),
    ("bench-bad-param-value", lambda f: ["sdmr-bench", "--method", "connected_components", "--param",
                                         "min_pixels=lots", "--dataset", f["toy"], "--output", f["out"]], "min_pixels"),
    ("bench-negative-limit", lambda f: ["sdmr-bench", "--method", "connected_components", "--limit", "-3",
                                        "--dataset", f["toy"], "--output", f["out"]], "--limit"),
    ("bench-negative-workers", lambda f: ["sdmr-bench", "--method", "connected_components", "--workers", "-2",
                                          "--dataset", f["toy"], "--output", f["out"]], "--workers"),
    ("bench-dataset-missing", lambda f: ["sdmr-bench", "--method", "connected_components", "--dataset",
                                         f["base"] / "nodata", "--output", f["out"]], "nodata"),
    ("bench-output-is-a-file", lambda f: ["sdmr-bench", "--method", "connected_components", "--dataset", f["toy"],
                                          "--output", f["file"]], "a_file.txt"),
    ("bench-output-foreign-folder", lambda f: ["sdmr-bench", "--method", "connected_components", "--dataset",
                                               f["toy"], "--output", f["foreign"]], "foreign"),
    ("bench-output-read-only", lambda f: ["sdmr-bench", "--method", "connected_components", "--dataset", f["toy"],
                                          "--output", f["readonly"] / "run"], "readonly"),
    ("bench-compare-missing-run", lambda f: ["sdmr-bench", "compare", f["base"] / "norun", "--output", f["out"]],
     "norun"),
    ("segment-input-missing", lambda f: ["sdmr-segment", f["base"] / "noframes", "--out", f["out"]], "noframes"),
    ("segment-surface-ratio-negative",
     lambda f: ["sdmr-segment", f["A"], "--out", f["out"], "--surface-ratio", "-1"], "--surface-ratio"),
    ("segment-contained-fraction-above-1",
     lambda f: ["sdmr-segment", f["A"], "--out", f["out"], "--contained-fraction", "2"], "--contained-fraction"),
    ("segment-min-height-0",
     lambda f: ["sdmr-segment", f["A"], "--out", f["out"], "--min-height-above-plane", "0"], "--min-height-above-plane"),
    ("segment-threads-0", lambda f: ["sdmr-segment", f["A"], "--out", f["out"], "--threads", "0"], "--threads"),
    ("segment-device-bogus", lambda f: ["sdmr-segment", f["A"], "--out", f["out"], "--device", "bogus"], "--device"),
    ("segment-device-cuda7", lambda f: ["sdmr-segment", f["A"], "--out", f["out"], "--device", "cuda:7"], "cuda:7"),
    ("segment-score-threshold", lambda f: ["sdmr-segment", f["A"], "--out", f["out"], "--score-threshold", "2"],
     "--score-threshold"),
    ("segment-out-is-a-file", lambda f: ["sdmr-segment", f["A"], "--out", f["file"]], "a_file.txt"),
    ("segment-out-foreign-folder", lambda f: ["sdmr-segment", f["A"], "--out", f["foreign"]], "foreign"),
    ("segment-out-read-only", lambda f: ["sdmr-segment", f["A"], "--out", f["readonly"] / "o"], "readonly"),
    ("segment-corrupt-checkpoint", lambda f: ["sdmr-segment", f["A"], "--out", f["out"], "--checkpoint",
                                              f["corrupt"]], "corrupt.ckpt"),
    ("segment-colliding-names", lambda f: ["sdmr-segment", f["A"], f["B"], "--out", f["out"]], "x"),
    ("train-batch-size-0", lambda f: _train(f"data.root={f['toy']}", "data.batch_size=0",
                                            f"hydra.run.dir={f['train_out']}"), "data.batch_size"),
    ("train-num-workers-negative", lambda f: _train(f"data.root={f['toy']}", "data.num_workers=-1",
                                                    f"hydra.run.dir={f['train_out']}"), "data.num_workers"),
    ("train-max-steps-0", lambda f: _train(f"data.root={f['toy']}", "trainer.max_steps=0",
                                           f"hydra.run.dir={f['train_out']}"), "trainer.max_steps"),
    ("train-corrupt-ckpt", lambda f: _train(f"data.root={f['toy']}", f"ckpt_path={f['corrupt']}",
                                            f"hydra.run.dir={f['train_out']}"), "corrupt.ckpt"),
    ("train-hostile-ckpt", lambda f: _train(f"data.root={f['toy']}", f"ckpt_path={f['hostile']}",
                                            f"hydra.run.dir={f['train_out']}"), "hostile.ckpt"),
    ("train-not-a-training-ckpt", lambda f: _train(f"data.root={f['toy']}", f"ckpt_path={f['weights_only_pt']}",
                                                   f"hydra.run.dir={f['train_out']}"), "plain.pt"),
    ("train-data-root-missing", lambda f: [sys.executable, "-m", "sdmr.train", f"hydra.run.dir={f['train_out']}"],
     "data.root"),
    ("train-data-root-empty", lambda f: _train(f"data.root={f['empty']}", f"hydra.run.dir={f['train_out']}"), "empty_dir"),
    ("train-run-dir-under-a-file", lambda f: _train(f"data.root={f['toy']}", f"hydra.run.dir={f['file']}/run"),
     "a_file.txt"),
    ("train-run-dir-read-only", lambda f: _train(f"data.root={f['toy']}", f"hydra.run.dir={f['readonly']}/run"),
     "readonly"),
    ("train-run-dir-holds-old-checkpoints", lambda f: _train(f"data.root={f['toy']}", f"hydra.run.dir={f['old_run']}"),
     "ckpt_path="),
]
IDS = [case[0] for case in CASES]
NEEDS_NON_ROOT = {"bench-output-read-only", "segment-out-read-only", "train-run-dir-read-only"}


def _run(command: list) -> subprocess.CompletedProcess:
    args = [str(a) for a in command]
    if not args[0].startswith("/"):
        args[0] = str(BIN / args[0])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline", "PYTHONWARNINGS": "ignore"}
    env.pop("SDMR_DEBUG", None)
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def results(request, files) -> dict[str, subprocess.CompletedProcess]:
    """Every selected row's subprocess, run three at a time (they are mostly interpreter start-up)."""
    selected = {item.callspec.id for item in request.session.items
                if item.module is request.module and hasattr(item, "callspec")}
    todo = [(name, make(files)) for name, make, _ in CASES if name in selected
            and not (ROOT and name in NEEDS_NON_ROOT)]
    with ThreadPoolExecutor(3) as pool:
        done = dict(zip([n for n, _ in todo], pool.map(_run, [c for _, c in todo]), strict=True))
    return done


@pytest.mark.parametrize(("name", "make", "named"), CASES, ids=IDS)
def test_bad_argument_is_one_clear_line(name, make, named, results, files):
    if ROOT and name in NEEDS_NON_ROOT:
        pytest.skip("running as root: a chmod 0o500 folder is writable, nothing to refuse")
    proc = results[name]
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-2000:]
    assert "Traceback" not in output, output[-3000:]
    assert "error:" in output and named in output, output[-2000:]
    assert "hostile checkpoint code ran" not in output
    assert not files["out"].exists(), f"{name} wrote {files['out']} although it refused to run"


def test_sdmr_debug_gives_the_traceback(files):
    """SDMR_DEBUG=1: the same bad argument re-raises, for a bug report."""
    env = {**os.environ, "SDMR_DEBUG": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([str(BIN / "sdmr-data"), "check", str(files["base"] / "nodata")], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_errors_form_one_taxonomy():
    from sdmr.bench.registry import MethodNotFound, ParameterError
    from sdmr.data.errors import DataError as OldDataError
    from sdmr.errors import ConfigError, DataError, OutputError, SdmrError

    assert OldDataError is DataError
    for cls in (DataError, ConfigError, OutputError, ParameterError, MethodNotFound):
        assert issubclass(cls, SdmrError) and issubclass(cls, ValueError)
    assert issubclass(MethodNotFound, LookupError)
    err = ConfigError("bad", "some/file", "do this")
    assert str(err) == "some/file: bad Fix: do this"
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is ConfigError and back.path == Path("some/file") and back.fix == "do this"
