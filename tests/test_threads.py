"""``SDMR_THREADS``: the one thread setting (sdmr.threads), and who follows it."""

from __future__ import annotations

import pytest

from sdmr import threads
from sdmr.errors import ConfigError


def test_sdmr_threads_wins_then_omp_then_half_the_cores(monkeypatch):
    monkeypatch.setattr(threads, "available_cores", lambda: 8)
    monkeypatch.delenv(threads.THREADS_ENV, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert threads.compute_threads() == 4
    monkeypatch.setattr(threads, "available_cores", lambda: 1)
    assert threads.compute_threads() == 1  # never 0
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.compute_threads() == 3
    monkeypatch.setenv(threads.THREADS_ENV, "2")
    assert threads.compute_threads() == 2


@pytest.mark.parametrize("text", ["0", "two", "-1"])
def test_a_bad_thread_count_is_a_config_error(monkeypatch, text):
    monkeypatch.setenv(threads.THREADS_ENV, text)
    with pytest.raises(ConfigError, match="SDMR_THREADS.*not a thread count"):
        threads.compute_threads()


def test_segmenter_takes_its_default_thread_count_from_the_setting(monkeypatch, tmp_path):
    import torch

    from sdmr.model.builder import build_sdmask_rcnn
    from sdmr.model.checkpoint import export_model
    from sdmr.model.inference import Segmenter

    torch.manual_seed(0)
    export_model(build_sdmask_rcnn(), {}, "median_relative", tmp_path / "m.pt")
    monkeypatch.setenv(threads.THREADS_ENV, "3")
    assert Segmenter(tmp_path / "m.pt").num_threads == 3
    assert Segmenter(tmp_path / "m.pt", num_threads=1).num_threads == 1
