"""Method discovery, --list, typed --param parsing and unknown names."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import pytest

from sdmr.bench.registry import (
    MethodNotFound,
    ParameterError,
    PluginLoadWarning,
    build_method,
    discover_methods,
    get_method,
    method_names,
    parse_value,
)


def test_builtin_method_is_registered_with_its_parameters() -> None:
    spec = get_method("connected_components")
    names = [name for name, _, _ in spec.parameters()]
    assert "max_depth_jump" in names and spec.summary
    method = build_method("connected_components", ["min_pixels=25", "max_depth_jump=0.02"])
    assert method.params.min_pixels == 25 and method.params.max_depth_jump == 0.02


def test_unknown_method_lists_names_and_closest_match() -> None:
    with pytest.raises(MethodNotFound) as err:
        get_method("conected_component")
    message = str(err.value)
    assert "Did you mean 'connected_components'" in message and "Available:" in message


def test_every_method_of_the_papers_table_is_registered() -> None:
    paper = {"sdmr", "euclidean_clustering", "region_growing", "ft_maskrcnn_color", "ft_maskrcnn_depth"}
    assert paper <= set(method_names())
    assert get_method("ft_maskrcnn_color").cls.inputs == ("color",)  # the harness loads colour for it


@dataclass
class Typed:
    count: int = 1
    ratio: float = 0.5
    flag: bool = False
    name: str = "a"
    maybe: float | None = None
    mode: Literal["fast", "slow"] = "fast"
    sizes: tuple[int, ...] = (1, 2)


@pytest.mark.parametrize(
    ("field", "text", "expected"),
    [("count", "7", 7), ("ratio", "1e-3", 1e-3), ("flag", "true", True), ("flag", "0", False),
     ("name", "b=c", "b=c"), ("maybe", "none", None), ("maybe", "2.5", 2.5), ("mode", "slow", "slow"),
     ("sizes", "3,4,5", (3, 4, 5))],
)
def test_values_parse_by_field_type(field: str, text: str, expected: object) -> None:
    import typing

    assert parse_value(text, typing.get_type_hints(Typed)[field], field) == expected


@pytest.mark.parametrize(
    ("field", "text"),
    [("count", "__import__('os').getcwd()"), ("count", "2.5"), ("flag", "maybe"), ("mode", "medium")],
)
def test_bad_values_are_rejected_never_evaluated(field: str, text: str) -> None:
    import typing

    with pytest.raises(ParameterError, match=field):
        parse_value(text, typing.get_type_hints(Typed)[field], field)


def test_unknown_parameter_names_the_closest() -> None:
    with pytest.raises(ParameterError, match="Did you mean 'min_pixels'"):
        build_method("connected_components", ["min_pixel=3"])
    with pytest.raises(ParameterError, match="name=value"):
        build_method("connected_components", ["min_pixels"])


def test_broken_plugin_is_a_warning_naming_it(plugins) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = discover_methods()
    assert {"oracle", "flaky", "nothing", "connected_components"} <= set(found)
    assert "broken" not in found
    messages = [str(w.message) for w in caught if issubclass(w.category, PluginLoadWarning)]
    assert any("'broken'" in m and "sdmr_testplugins_missing" in m for m in messages)


def test_list_shows_third_party_methods_and_survives_a_broken_one(plugin_dir, cli) -> None:
    result = cli("--list", pythonpath=plugin_dir)
    assert result.returncode == 0, result.stderr
    assert "connected_components" in result.stdout
    assert "oracle" in result.stdout and "--param drop_last=False  [bool]" in result.stdout
    assert "warning:" in result.stderr and "'broken'" in result.stderr


def test_unknown_method_on_the_command_line(tmp_path, toy_dataset, cli) -> None:
    result = cli("--method", "connected_componets", "--dataset", str(toy_dataset), "--output", str(tmp_path / "o"))
    assert result.returncode == 2
    assert "Did you mean 'connected_components'" in result.stderr
    assert not (tmp_path / "o").exists()
