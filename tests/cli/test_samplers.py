"""The sampler registry: one registration makes a sampler usable by name on every sampling command."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ddim_studio.cli import main
from ddim_studio.core.imaging import read_params
from ddim_studio.core.samplers import (
    DEFAULT_SAMPLER,
    SamplerSpec,
    get_sampler,
    register_sampler,
    sampler_names,
    unregister_sampler,
)
from ddim_studio.core.sampling import StepResult, iter_sample

CALLS: list[str] = []


def _throwaway(model, x_T, **kwargs) -> Iterator[StepResult]:  # type: ignore[no-untyped-def]
    CALLS.append("called")
    yield from iter_sample(model, x_T, **kwargs)


@pytest.fixture
def throwaway() -> Iterator[str]:
    register_sampler(SamplerSpec("throwaway", "Throwaway", _throwaway, False, "A test sampler."))
    CALLS.clear()
    yield "throwaway"
    unregister_sampler("throwaway")


def test_ddim_is_registered_and_unknown_names_list_the_known_ones() -> None:
    assert DEFAULT_SAMPLER == "ddim" and "ddim" in sampler_names()
    spec = get_sampler("ddim")
    assert spec.fn is iter_sample and spec.supports_eta
    with pytest.raises(ValueError, match="choose one of: ddim"):
        get_sampler("nope")


@pytest.mark.parametrize("command", ["sample", "encode", "decode", "interpolate"])
def test_every_sampling_command_takes_a_registered_sampler(command: str, throwaway: str, capsys) -> None:  # type: ignore[no-untyped-def]
    from ddim_studio.cli import build_parser

    extra = {
        "sample": [],
        "encode": ["a.png"],
        "decode": ["x.safetensors"],
        "interpolate": ["seed:1", "seed:2"],
    }
    args = build_parser().parse_args([command, *extra[command], "--sampler", throwaway])
    assert args.sampler == "throwaway"
    with pytest.raises(SystemExit, match="^2$") as exc:  # the message is on stderr, checked below
        build_parser().parse_args([command, *extra[command], "--sampler", "nope"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "unknown sampler 'nope'" in err and "ddim" in err and "throwaway" in err


def test_a_throwaway_sampler_runs_and_is_saved_in_the_parameters(
    throwaway: str, tiny_model_dir: Path, tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    argv = ["sample", "--model", str(tiny_model_dir), "-n", "2", "--steps", "3", "--out", str(tmp_path)]
    assert main([*argv, "--sampler", throwaway, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["sampler"] == "throwaway" and CALLS == ["called"]  # one batch, one run
    params = read_params(tmp_path / "seed-000000.png")
    assert params is not None and params["sampler"] == "throwaway"
    # a deterministic sampler refuses η > 0 in one line
    assert main([*argv, "--sampler", throwaway, "--eta", "0.5"]) == 1
    assert "deterministic" in capsys.readouterr().err
