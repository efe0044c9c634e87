"""The shipped model catalogue: its entries, their counted costs, and what this build can drive."""

from __future__ import annotations

import pytest

from ddim_studio.core import catalogue
from ddim_studio.core.catalogue import count_unet, estimated_step_seconds, find_entry, load_catalogue
from ddim_studio.core.models.hub_check import autoencoder_scale

EXPECTED = {
    "google/ddpm-cifar10-32",
    *(
        f"google/ddpm-{kind}{name}-256"
        for kind in ("", "ema-")
        for name in ("celebahq", "church", "bedroom", "cat")
    ),
    "CompVis/ldm-celebahq-256",
}


def test_the_catalogue_lists_the_unconditional_models() -> None:
    entries = load_catalogue()
    assert {e.id for e in entries} == EXPECTED
    for entry in entries:
        assert entry.resolution in (32, 256) and entry.prediction_type == "epsilon"
        assert entry.licence == "apache-2.0" and "arXiv" in entry.source
        assert entry.download_bytes >= 4 * entry.parameters * 0.99  # float32 weights
    assert find_entry("GOOGLE/ddpm-cifar10-32") is not None and find_entry("x/y") is None


@pytest.mark.parametrize("name", ["ddpm-32", "ddpm-256", "ldm-celebahq-256"])
def test_parameters_and_gflops_are_those_of_the_architecture(name: str) -> None:
    entry = next(e for e in load_catalogue() if e.extra["architecture_name"] == name)
    parameters, gflops = count_unet(entry.architecture)
    assert gflops == pytest.approx(entry.gflops_per_call, rel=1e-3)
    if entry.is_latent:
        assert parameters == 274_056_163 < entry.parameters  # the autoencoder adds the rest
    else:
        assert parameters == entry.parameters


def test_the_latent_model_waits_for_latent_support(monkeypatch: pytest.MonkeyPatch) -> None:
    ldm = find_entry("CompVis/ldm-celebahq-256")
    assert ldm is not None and ldm.is_latent and ldm.latent_scale == 1.0
    monkeypatch.setattr(catalogue, "LATENT_MODELS", False)
    assert not ldm.drivable and "latent" in (ldm.unavailable_reason() or "")
    monkeypatch.setattr(catalogue, "LATENT_MODELS", True)
    assert ldm.drivable and ldm.unavailable_reason() is None


def test_step_estimates_scale_with_the_counted_cost() -> None:
    small, big = find_entry("google/ddpm-cifar10-32"), find_entry("google/ddpm-celebahq-256")
    assert small is not None and big is not None
    assert estimated_step_seconds(big, 100.0) == pytest.approx(4.97028, rel=1e-4)
    assert estimated_step_seconds(big, 100.0) / estimated_step_seconds(small, 100.0) == pytest.approx(
        39.9, rel=0.01
    )
    assert estimated_step_seconds(small, 100.0, batch=4) == pytest.approx(
        4 * estimated_step_seconds(small, 100.0)
    )


def test_an_autoencoder_without_scaling_factor_gets_the_trained_scale() -> None:
    scale, note = autoencoder_scale({"_class_name": "VQModel"})
    assert scale == 1.0 and note is not None and "scaling_factor" in note
    assert autoencoder_scale({"scaling_factor": 0.18215}) == (0.18215, None)
    assert autoencoder_scale({}, trained_scale=0.5)[0] == 0.5
