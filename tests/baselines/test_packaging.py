"""The baselines install under their own import name, and the package list in pyproject is complete."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_every_package_folder_is_listed_and_baselines_install_as_sdmr_baselines() -> None:
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "sdmr").rglob("__init__.py")}
    on_disk = {p for p in on_disk if "__pycache__" not in p}
    listed = set(setuptools["packages"])
    assert on_disk <= listed, f"add {sorted(on_disk - listed)} to [tool.setuptools] packages"
    assert setuptools["package-dir"] == {"sdmr_baselines": "baselines"}
    assert "sdmr_baselines" in listed and "baselines" not in listed


def test_importing_the_method_protocol_does_not_load_the_metrics_stack() -> None:
    import subprocess

    code = "import sys, sdmr.bench.method, sdmr_baselines.region_growing; " \
           "print(any(m.startswith(('pycocotools', 'sdmr.bench.metrics')) for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
