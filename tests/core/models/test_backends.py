"""Backends of the model call: OpenVINO against torch, exact is today's output, fallbacks and the IR cache.

Tolerances stated here (and in the README): OpenVINO exact (f32) within 1e-4 of torch float32 on
the network output; OpenVINO fast (bf16) within 0.1 on the shipped model (measured 0.024).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
import torch

from ddim_studio.core.models import backends
from ddim_studio.core.models.backends import apply_backend
from ddim_studio.core.models.diffusers_adapter import DiffusersUNet
from ddim_studio.core.models.interrupt import RunCancelled, interruptible
from ddim_studio.core.models.loader import load_model
from ddim_studio.core.models.protocol import ModelInfo
from ddim_studio.core.sampling import sample
from ddim_studio.core.schedule import NoiseSchedule
from tests.helpers.models import tiny_unet

pytest.importorskip("openvino")

EXACT_TOL = 1e-4
FAST_TOL = 0.1
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def tiny() -> DiffusersUNet:
    return DiffusersUNet(tiny_unet(seed=3, size=8), NoiseSchedule.linear(), (3, 8, 8))


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ov-cache")


def _inputs(n: int, shape: tuple[int, int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn((n, *shape), generator=torch.Generator().manual_seed(7))
    return x, torch.linspace(0, 999, n).long()


def _info() -> ModelInfo:
    return ModelInfo("m", "m", "diffusers", (3, 8, 8), 1, "epsilon")


def test_openvino_exact_equals_torch_within_tolerance(tiny: DiffusersUNet, cache: Path) -> None:
    info = _info()
    model, report = apply_backend(tiny, info, backend="openvino", precision="exact", batch=4, cache_dir=cache)
    assert (report.backend, report.precision) == ("openvino", "exact")
    assert (info.backend, info.precision) == ("openvino", "exact")
    assert model.precision_used() == "f32"
    x, t = _inputs(4, tiny.sample_shape)
    assert (model(x, t) - tiny(x, t)).abs().max() < EXACT_TOL
    x3, t3 = _inputs(3, tiny.sample_shape)  # another batch size: a reshaped second IR
    assert (model(x3, t3) - tiny(x3, t3)).abs().max() < EXACT_TOL
    assert model(x3[:1], torch.tensor(250)).shape == (1, 3, 8, 8)  # a scalar timestep


def test_openvino_fast_on_the_shipped_model_within_tolerance(tmp_path: Path) -> None:
    shipped, _ = load_model(None)
    model, report = apply_backend(shipped, backend="openvino", precision="fast", batch=4, cache_dir=tmp_path)
    if not backends.cpu_has_bf16():
        assert report.precision == "exact" and any("bfloat16" in n for n in report.notes)
        return
    assert model.precision_used() == "bf16"
    x, t = _inputs(4, shipped.sample_shape)
    delta = (model(x, t) - shipped(x, t)).abs().max()
    assert 0 < delta < FAST_TOL  # bf16 differs, but only a little


def test_exact_on_torch_is_bit_for_bit_todays_output(tiny: DiffusersUNet) -> None:
    for precision in ("exact", "auto"):
        model, report = apply_backend(tiny, backend="torch", precision=precision)
        assert model is tiny and report.precision == "exact"
        x = torch.randn((2, 3, 8, 8), generator=torch.Generator().manual_seed(0))
        kwargs = {"steps": 5, "eta": 0.0}
        assert torch.equal(sample(model, x, **kwargs), sample(tiny, x, **kwargs))


def test_fast_on_torch_is_autocast_or_a_note(tiny: DiffusersUNet, monkeypatch: pytest.MonkeyPatch) -> None:
    x, t = _inputs(2, tiny.sample_shape)
    model, report = apply_backend(tiny, backend="torch", precision="fast")
    if backends.cpu_has_bf16():
        assert report.precision == "fast" and isinstance(model, backends.TorchAutocastUNet)
        out = model(x, t)
        assert out.dtype == torch.float32 and (out - tiny(x, t)).abs().max() < FAST_TOL
    monkeypatch.setattr(backends, "cpu_has_bf16", lambda: False)  # a CPU without bf16
    model, report = apply_backend(tiny, backend="torch", precision="fast")
    assert model is tiny and report.precision == "exact"
    assert report.notes == ["this CPU has no bfloat16 instructions; the model runs in float32"]


def test_cpu_without_bf16_runs_openvino_in_f32_with_a_note(
    tiny: DiffusersUNet, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backends, "cpu_has_bf16", lambda: False)
    model, report = apply_backend(tiny, backend="openvino", precision="fast", batch=4, cache_dir=cache)
    assert report.precision == "exact" and model.precision_used() == "f32"
    assert any("no bfloat16" in note for note in report.notes)
    _, quiet = apply_backend(tiny, backend="openvino", precision="auto", batch=4, cache_dir=cache)
    assert quiet.precision == "exact" and not any("bfloat16" in n for n in quiet.notes)


def test_second_load_reuses_the_cache(tmp_path: Path) -> None:
    unet = DiffusersUNet(tiny_unet(seed=5, size=8), NoiseSchedule.linear(), (3, 8, 8))
    first, report = apply_backend(unet, backend="openvino", precision="exact", batch=2, cache_dir=tmp_path)
    assert report.prepare_seconds > 0 and any("prepared the model" in n for n in report.notes)
    stages: list[str] = []

    def stage(message: str):
        stages.append(message)
        return torch.no_grad()

    second, again = apply_backend(
        unet, backend="openvino", precision="exact", batch=2, cache_dir=tmp_path, stage=stage
    )
    assert again.prepare_seconds == 0 and again.notes == [] and stages == []
    x, t = _inputs(2, unet.sample_shape)
    torch.testing.assert_close(second(x, t), first(x, t), rtol=0, atol=0)
    other = DiffusersUNet(tiny_unet(seed=6, size=8), NoiseSchedule.linear(), (3, 8, 8))
    _, converted = apply_backend(
        other, backend="openvino", precision="exact", batch=2, cache_dir=tmp_path, stage=stage
    )
    assert converted.prepare_seconds > 0 and stages == [backends.PREPARING]  # other weights: a new key


@pytest.mark.parametrize("damage", ["truncate", "flip", "no-manifest"])
def test_damaged_cache_is_converted_again(tmp_path: Path, damage: str) -> None:
    unet = DiffusersUNet(tiny_unet(seed=5, size=8), NoiseSchedule.linear(), (3, 8, 8))
    model, _ = apply_backend(unet, backend="openvino", precision="exact", batch=2, cache_dir=tmp_path)
    (folder,) = list(tmp_path.glob("*-b2"))
    weights = folder / "unet.bin"
    data = bytearray(weights.read_bytes())
    if damage == "truncate":
        weights.write_bytes(bytes(data[: len(data) // 2]))
    elif damage == "flip":
        data[len(data) // 2] ^= 0xFF
        weights.write_bytes(bytes(data))
    else:
        (folder / "manifest.json").unlink()
    again, report = apply_backend(unet, backend="openvino", precision="exact", batch=2, cache_dir=tmp_path)
    assert report.backend == "openvino" and report.prepare_seconds > 0
    assert any("damaged" in note for note in report.notes)
    x, t = _inputs(2, unet.sample_shape)
    assert (again(x, t) - unet(x, t)).abs().max() < EXACT_TOL


def test_unwritable_cache_converts_in_memory_with_a_note(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")  # the cache folder cannot be made (like a full or read-only disk)
    unet = DiffusersUNet(tiny_unet(seed=8, size=8), NoiseSchedule.linear(), (3, 8, 8))
    model, report = apply_backend(unet, backend="openvino", precision="exact", batch=2, cache_dir=blocker)
    assert report.backend == "openvino"
    assert any("could not be kept on disk" in note for note in report.notes)
    x, t = _inputs(2, unet.sample_shape)
    assert (model(x, t) - unet(x, t)).abs().max() < EXACT_TOL


def test_cancel_stops_an_openvino_call_and_the_model_runs_again(tmp_path: Path) -> None:
    unet = DiffusersUNet(tiny_unet(seed=1, size=128), NoiseSchedule.linear(), (3, 128, 128))
    model, _ = apply_backend(unet, backend="openvino", precision="exact", batch=8, cache_dir=tmp_path)
    x, t = _inputs(8, unet.sample_shape)
    flag = threading.Event()
    flag.set()
    with interruptible(model, flag.is_set) as count, pytest.raises(RunCancelled, match="was cancelled"):
        model(x, t)
    assert count >= 1
    flag.clear()
    started = threading.Event()
    real_start = model._requests[8].start_async

    class Spy:  # sets the flag once the asynchronous request is under way
        def __getattr__(self, name: str):
            return getattr(real_request, name)

        def start_async(self, *args):
            real_start(*args)
            started.set()
            flag.set()

    real_request = model._requests[8]
    model._requests[8] = Spy()
    with interruptible(model, flag.is_set), pytest.raises(RunCancelled, match="was cancelled"):
        model(x, t)
    assert started.is_set()
    model._requests[8] = real_request
    flag.clear()
    with interruptible(model, flag.is_set):
        out = model(x, t)  # the cancelled request runs again
    assert (out - unet(x, t)).abs().max() < EXACT_TOL


def test_oracle_models_stay_on_torch() -> None:
    from ddim_studio.core.models.oracles import GaussianOracle

    oracle = GaussianOracle(0.0, 0.5, (3, 4, 4), NoiseSchedule.linear())
    model, report = apply_backend(oracle, backend="openvino", precision="fast")
    assert model is oracle and (report.backend, report.precision) == ("torch", "exact")
    assert len(report.notes) == 1


def test_unknown_choice_is_refused_in_words(tiny: DiffusersUNet) -> None:
    with pytest.raises(ValueError, match="Unknown backend 'tpu'; choose auto, torch, openvino"):
        apply_backend(tiny, backend="tpu")


def test_without_openvino_auto_and_openvino_fall_back_with_a_note(tmp_path: Path) -> None:
    """The real import fails (``sys.modules['openvino'] = None``) in a fresh process."""
    code = textwrap.dedent(
        """
        import sys
        sys.modules["openvino"] = None  # import openvino raises ImportError
        from ddim_studio.core.models.backends import apply_backend
        from ddim_studio.core.models.loader import load_model
        model, info = load_model(None)
        for backend in ("auto", "openvino"):
            wrapped, report = apply_backend(model, info, backend=backend, precision="auto")
            print(backend, report.backend, report.precision, wrapped is model, "|".join(report.notes))
        """
    )
    env = {"DDIM_STUDIO_CACHE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2
    for line, backend in zip(lines, ("auto", "openvino"), strict=True):
        assert line.startswith(f"{backend} torch exact True OpenVINO is not installed"), line
        assert "|" not in line  # one note, one line


def test_the_probe_prepares_each_batch_size_before_it_times_it(tiny: DiffusersUNet, cache: Path) -> None:
    from ddim_studio.operations.cost import PROBE_BATCHES, measure_calls

    model, _report = apply_backend(tiny, _info(), backend="openvino", precision="exact", cache_dir=cache)
    order: list[tuple[str, int]] = []
    prepare, call = model.prepare, model.__call__
    model.prepare = lambda batch: (order.append(("prepare", batch)), prepare(batch))[1]  # type: ignore[method-assign]

    class Recorded:  # what the probe sees: the real OpenVINO model, its calls and preparations noted
        sample_shape = model.sample_shape
        prepare = staticmethod(model.prepare)

        def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            order.append(("call", int(x.shape[0])))
            return call(x, t)

    table = measure_calls(Recorded(), "cpu", budget_s=60.0)  # a hang guard, not a speed limit
    assert set(table) == set(PROBE_BATCHES)
    for batch in table:  # a compile never lands inside a timed call
        assert order.index(("prepare", batch)) < order.index(("call", batch))
