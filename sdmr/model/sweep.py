"""Expand a W&B grid-sweep file into the commands its agent would run (for checking and for running
the same sweep without W&B)."""

from __future__ import annotations

import itertools
from pathlib import Path

import yaml

from sdmr.data.errors import DataError


def _read_grid_sweep(path: Path) -> dict:
    """The parsed sweep file; anything unreadable or not a grid sweep is a ``DataError`` naming it."""
    try:
        spec = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise DataError(f"cannot read sweep file ({err})", path, "pass a W&B sweep YAML file") from err
    if not isinstance(spec, dict) or spec.get("method") != "grid" or "parameters" not in spec:
        raise DataError(
            "not a W&B grid sweep (method: grid + parameters)",
            path,
            "set method: grid and list the swept keys under parameters:",
        )
    return spec


def _grid_runs(spec: dict, path: Path) -> list[dict[str, object]]:
    names, choices = [], []
    for name, param in spec["parameters"].items():
        if "values" in param:
            choices.append(list(param["values"]))
        elif "value" in param:
            choices.append([param["value"]])
        else:
            raise DataError(
                f"sweep parameter '{name}' has neither value nor values",
                path,
                f"give {name} a value: X or values: [X, Y, ...]",
            )
        names.append(name)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*choices)]


def sweep_runs(path: str | Path) -> list[dict[str, object]]:
    """Every parameter combination of a ``method: grid`` sweep, in W&B's order."""
    path = Path(path)
    return _grid_runs(_read_grid_sweep(path), path)


def sweep_commands(path: str | Path, python: str = "python") -> list[list[str]]:
    """The argv of each run, expanding ``${env}``, ``${interpreter}`` and ``${args_no_hyphens}``."""
    path = Path(path)
    spec = _read_grid_sweep(path)
    commands = []
    for run in _grid_runs(spec, path):
        argv: list[str] = []
        for part in spec.get("command", ["${env}", "${interpreter}", "${program}", "${args}"]):
            if part == "${env}":
                continue
            if part in ("${interpreter}", "python"):
                argv.append(python)
            elif part == "${args_no_hyphens}":
                argv.extend(f"{k}={v}" for k, v in run.items())
            elif part == "${args}":
                argv.extend(f"--{k}={v}" for k, v in run.items())
            elif part == "${program}":
                argv.append(str(spec["program"]))
            else:
                argv.append(str(part))
        commands.append(argv)
    return commands
