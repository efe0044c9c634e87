"""Hostile checkpoints through the app's own entry points: ``load_model``, the worker and the CLI.

The safe loader has unit tests of its own (``tests/core/models/test_models_safe_load.py``); these
tests open whole model folders the way the studio does, so a gap between the loader and the code
around it (config reading, the UNet build, the worker's error kinds, the CLI's one-line errors)
shows up here. Every hostile pickle is first shown to be live: unpickled without the safe loader,
it does create its sentinel file.
"""

from __future__ import annotations

import fnmatch
import json
import os
import pickle
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import yaml

from ddim_studio.core.models import ModelLoadError, hub_allow_patterns, load_model
from ddim_studio.core.models import hub as hub_module
from ddim_studio.core.schedule import NoiseSchedule
from tests.helpers.models import UNetModel, tiny_unet
from tests.reliability.hostile_models import (
    FOLDER_CASES,
    PICKLE_CASES,
    PICKLED,
    hostile_payload,
    pickle_case_id,
    sentinel_for,
    tiny_state_dict,
    write_good_folder,
    write_hostile_bin,
    write_pickle,
)

FORCE_UNSAFE = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"
TIMEOUT_MS = 60_000  # a hang guard, not a speed limit


@pytest.fixture(scope="module", autouse=True)
def warm_diffusers(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Import diffusers' UNet once, so that a hang guard below never waits for the import.

    How fast a bad model is refused is measured in ``benchmarks/bench_refusals.py`` (against the
    load of a good one, in the same run); the tests here check what is refused and how it is said.
    """
    load_model(write_good_folder(tmp_path_factory.mktemp("warm") / "model"), device="cpu")


@pytest.fixture
def unet_builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts diffusers ``UNet2DModel`` constructions (the real constructor still runs): a bound
    checked "before the network is built" shows as zero builds, whatever the machine's speed."""
    from diffusers import UNet2DModel

    builds: list[int] = []
    real_init = UNet2DModel.__init__

    def counting_init(self, *args: object, **kwargs: object) -> None:  # type: ignore[no-untyped-def]
        builds.append(1)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(UNet2DModel, "__init__", counting_init)
    return builds


@pytest.fixture
def no_force_unsafe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(FORCE_UNSAFE, raising=False)


def refused(source: Path, match: str, **kwargs: object) -> ModelLoadError:
    """The error ``load_model`` raises for ``source``; its message must contain ``match``."""
    with pytest.raises(ModelLoadError, match=re.escape(match)) as info:
        load_model(source, device="cpu", **kwargs)  # type: ignore[arg-type]
    assert match in str(info.value), str(info.value)
    assert "Traceback" not in str(info.value)
    return info.value


# ---------------------------------------------------------------- the payloads are live


@pytest.mark.parametrize("case", PICKLE_CASES, ids=pickle_case_id)
def test_each_hostile_pickle_runs_its_payload_when_unpickled_unsafely(tmp_path: Path, case) -> None:
    """Control: without the safe loader the payload does touch the sentinel (so the tests below mean it)."""
    folder = write_hostile_bin(tmp_path / "m", *case)
    path, sentinel = folder / PICKLED, sentinel_for(folder)
    try:
        torch.load(path, weights_only=False)
    except Exception:
        pickle.loads(path.read_bytes())  # a bare pickle torch.load does not take
    assert sentinel.exists()


# ---------------------------------------------------------------- load_model on a folder


@pytest.mark.parametrize("force_unsafe", [False, True], ids=["default-env", "FORCE_NO_WEIGHTS_ONLY"])
@pytest.mark.parametrize("case", PICKLE_CASES, ids=pickle_case_id)
def test_load_model_refuses_a_folder_with_a_hostile_pickle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case, force_unsafe: bool
) -> None:
    folder = write_hostile_bin(tmp_path / "evil-model", *case)
    if force_unsafe:
        monkeypatch.setenv(FORCE_UNSAFE, "1")
    else:
        monkeypatch.delenv(FORCE_UNSAFE, raising=False)
    error = refused(folder, "Refusing to load")
    assert "contains code" in str(error) and "safetensors" in str(error)
    assert not sentinel_for(folder).exists()
    assert os.environ.get(FORCE_UNSAFE) == ("1" if force_unsafe else None)  # restored


@pytest.mark.parametrize("force_unsafe", [False, True], ids=["default-env", "FORCE_NO_WEIGHTS_ONLY"])
@pytest.mark.parametrize(
    ("fmt", "suffix", "shape"),
    [("zip", ".ckpt", "list"), ("legacy", ".pth", "dict"), ("raw", ".bin", "top"), ("zip", ".pt", "dict")],
)
def test_load_model_refuses_a_hostile_checkpoint_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str, suffix: str, shape: str, force_unsafe: bool
) -> None:
    """An original-DDIM checkpoint file (``--model ckpt.pth``) goes through the same loader."""
    sentinel = tmp_path / "SENTINEL"
    path = write_pickle(tmp_path / f"model{suffix}", hostile_payload(shape, sentinel), fmt)
    if force_unsafe:
        monkeypatch.setenv(FORCE_UNSAFE, "1")
    refused(path, "contains code", resolution=8)
    assert not sentinel.exists()


@pytest.mark.parametrize("name", list(FOLDER_CASES))
def test_load_model_gives_a_readable_error_for_a_malformed_folder(
    tmp_path: Path, no_force_unsafe: None, name: str
) -> None:
    builder, match = FOLDER_CASES[name]
    folder = tmp_path / "bad-model"
    folder.mkdir()
    builder(folder)
    refused(folder, match)
    assert not sentinel_for(folder).exists()


@pytest.mark.parametrize(
    "sample_size",
    [
        pytest.param(0, id="0"),
        pytest.param(-5, id="-5"),
        pytest.param(True, id="true"),
        pytest.param(10**9, id="1e9"),
        pytest.param([8, 8, 8], id="three-sides"),
        pytest.param([8, 0], id="zero-width"),
        pytest.param("8", id="a-string"),
    ],
)
def test_load_model_refuses_an_impossible_sample_size(tmp_path: Path, sample_size: object) -> None:
    """Refused at load time, naming the field and the value (it used to load and crash the first
    sample: a negative dimension, a 2^60-element tensor)."""
    folder = write_good_folder(tmp_path / "model")
    config = json.loads((folder / "config.json").read_text())
    config["sample_size"] = sample_size
    (folder / "config.json").write_text(json.dumps(config))
    error = refused(folder, "sample_size")
    assert repr(sample_size) in str(error), str(error)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("layers_per_block", 10_000, id="layers_per_block-10000"),
        pytest.param("layers_per_block", 0, id="layers_per_block-0"),
        pytest.param("block_out_channels", [8] * 1000, id="1000-levels"),
        pytest.param("block_out_channels", [8, 10**6], id="channels-1e6"),
        pytest.param("norm_num_groups", 0, id="norm_num_groups-0"),
        pytest.param("in_channels", 10**6, id="in_channels-1e6"),
        pytest.param("attention_head_dim", -1, id="attention_head_dim--1"),
    ],
)
def test_load_model_refuses_a_huge_unet_config_at_once(
    tmp_path: Path, unet_builds: list[int], field: str, value: object
) -> None:
    """A size field is bounded before the UNet is built: ``layers_per_block`` 10 000 used to build
    10 000 blocks per level (≈ 4 ms each) before the weights could show it wrong."""
    folder = write_good_folder(tmp_path / "model")
    config = json.loads((folder / "config.json").read_text())
    config[field] = value
    (folder / "config.json").write_text(json.dumps(config))
    unet_builds.clear()  # writing the good folder built one
    with pytest.raises(ModelLoadError, match=field) as info:
        load_model(folder, device="cpu")
    assert unet_builds == [], "a huge config must be refused before the UNet is built"
    assert "is not" in str(info.value) and "Traceback" not in str(info.value)


def test_a_huge_ddim_config_is_refused_at_once(
    tiny_ckpt: Path, tmp_path: Path, unet_builds: list[int]
) -> None:
    """The original-DDIM config's ``num_res_blocks`` is bounded the same way."""
    config = json.loads(tiny_ckpt.with_name("tiny_config.json").read_text())
    config["num_res_blocks"] = 10_000
    path = tmp_path / "huge.json"
    path.write_text(json.dumps(config))
    unet_builds.clear()
    refused(tiny_ckpt, "num_res_blocks 10000", config=path)
    assert unet_builds == []


def test_a_deeply_nested_scheduler_config_is_a_model_load_error(tmp_path: Path) -> None:
    folder = write_good_folder(tmp_path / "model")
    (folder / "scheduler_config.json").write_text("[" * 100_000 + "]" * 100_000)
    error = refused(folder, "scheduler config")
    assert "nested too deeply" in str(error)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        pytest.param('{"num_train_timesteps": 1000000000000}', "num_train_timesteps", id="T-1e12"),
        pytest.param('{"num_train_timesteps": Infinity}', "infinity", id="T-infinity"),
        pytest.param('{"trained_betas": 5}', "betas", id="trained-betas-scalar"),
        pytest.param('{"beta_start": ' + "1" * 5000 + "}", "not valid JSON", id="5000-digit-number"),
        # round two (issue 17): each used to be a traceback or a NaN picture written with exit 0
        pytest.param('{"steps_offset": 1e30}', "steps_offset", id="steps-offset-1e30"),
        pytest.param(
            '{"beta_schedule": "scaled_linear", "beta_start": -0.1}',
            "beta_start",
            id="scaled-linear-negative",
        ),
        pytest.param('{"beta_start": -0.001}', "beta_start", id="linear-negative-beta-start"),
        pytest.param('{"beta_end": 5}', "beta_end", id="beta-end-5"),
        pytest.param('{"beta_end": NaN}', "beta_end", id="beta-end-nan"),
        pytest.param(
            '{"trained_betas": ' + str([2.0] * 10) + "}", "strictly between 0 and 1", id="trained-2"
        ),
        pytest.param('{"trained_betas": [0.01, NaN, 0.02]}', "timestep 1", id="trained-nan"),
        pytest.param('{"trained_betas": [0.01, "x"]}', "list of numbers", id="trained-text"),
        pytest.param('{"trained_betas": [0.5, 0.0, 0.1]}', "timestep 1", id="trained-zero"),
    ],
)
def test_a_scheduler_config_with_impossible_values_is_a_model_load_error(
    tmp_path: Path, content: str, match: str
) -> None:
    folder = write_good_folder(tmp_path / "model")
    (folder / "scheduler_config.json").write_text(content)
    refused(folder, match)


_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefg", "bcdefgh", strict=True)
)
DDIM_CONFIGS = [
    pytest.param("deep.yml", "[" * 100_000 + "]" * 100_000, "nested too deeply", id="nested-yaml"),
    pytest.param("deep.json", "[" * 100_000 + "]" * 100_000, "nested too deeply", id="nested-json"),
    pytest.param("bin.yml", b"\x89PNG\xff\xfe", "not UTF-8", id="binary-yaml"),
    pytest.param("bin.json", b"\xff\xfe{}", "not UTF-8", id="binary-json"),
    pytest.param("inf.yml", "ch: .inf\nresolution: 32\n", "wrong type", id="yaml-infinity"),
    pytest.param("data.yml", "model: {ch: 32}\ndata: [1]\n", "data section", id="yaml-data-a-list"),
    pytest.param(
        "tag.yml", "!!python/object/apply:os.system ['touch {sentinel}']\n", "not valid", id="yaml-tag"
    ),
    pytest.param("bomb.yml", _BOMB + "model: *h\ndata: *h\ndiffusion: *h\n", "config", id="yaml-alias-bomb"),
    pytest.param("list.yml", "- 1\n- 2\n", "not a mapping", id="yaml-list"),
]


@pytest.mark.parametrize(("name", "content", "match"), DDIM_CONFIGS)
def test_a_hostile_ddim_config_is_a_model_load_error(
    tiny_ckpt: Path, tmp_path: Path, name: str, content: str | bytes, match: str
) -> None:
    """``--model ckpt --model-config CONFIG``: the original-DDIM config is YAML or JSON."""
    sentinel = tmp_path / "SENTINEL"
    config = tmp_path / name
    if isinstance(content, bytes):
        config.write_bytes(content)
    else:
        config.write_text(content.replace("{sentinel}", str(sentinel)))
    refused(tiny_ckpt, match, config=config)
    assert not sentinel.exists()


@pytest.fixture
def tiny_ckpt() -> Path:
    path = Path(__file__).resolve().parents[1] / "fixtures" / "ermongroup_ddim" / "tiny_model.safetensors"
    assert path.is_file(), path
    return path


# ---------------------------------------------------------------- the worker


@pytest.fixture
def runner(qapp) -> Iterator:  # type: ignore[no-untyped-def]
    from ddim_studio.workers import JobRunner

    runner = JobRunner()
    runner.set_model(UNetModel(tiny_unet(seed=0), NoiseSchedule.linear()))
    runner.preview_fps = 1e9
    yield runner
    assert runner.shutdown(60_000)  # ms: a hang guard


def load_fails_then_sampling_works(qtbot, runner, folder: Path) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    from ddim_studio.workers import LoadModelJob, SampleJob

    before = runner.current_model_info
    with qtbot.waitSignal(runner.failed, timeout=TIMEOUT_MS) as failed:
        bad = runner.submit(LoadModelJob(str(folder), device="cpu"))
    with qtbot.waitSignal(runner.finished, timeout=TIMEOUT_MS) as ok:
        good = runner.submit(SampleJob(seeds=(3,), steps=2))
    assert failed.args[0] == bad and ok.args[0] == good
    assert torch.isfinite(ok.args[1].images).all() and ok.args[1].images.shape == (1, 3, 8, 8)
    assert runner.current_model_info is before  # the old model stays
    return failed.args[2], failed.args[1]


@pytest.mark.parametrize("case", [("dict", "zip"), ("list", "legacy"), ("raw", "hand-getattr-import")])
def test_worker_load_of_a_hostile_pickle_fails_and_the_runner_goes_on(
    qtbot, runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv(FORCE_UNSAFE, "1")
    folder = write_hostile_bin(tmp_path / "evil-model", *case)
    kind, message = load_fails_then_sampling_works(qtbot, runner, folder)
    assert kind == "model" and "Refusing to load" in message and "contains code" in message
    assert not sentinel_for(folder).exists()


@pytest.mark.parametrize("name", list(FOLDER_CASES))
def test_worker_load_of_a_malformed_folder_fails_with_kind_model(
    qtbot, runner, tmp_path: Path, no_force_unsafe: None, name: str
) -> None:  # type: ignore[no-untyped-def]
    builder, match = FOLDER_CASES[name]
    folder = tmp_path / "bad-model"
    folder.mkdir()
    builder(folder)
    kind, message = load_fails_then_sampling_works(qtbot, runner, folder)
    assert kind == "model" and match in message, (kind, message)


# ---------------------------------------------------------------- the command line


FORKS = Path(__file__).with_name("cli_forks.py")
PICKLE_CLI_CASES = [("dict", "zip"), ("list", "legacy"), ("raw", "hand-stack-global-memo")]


def _cli_cases() -> list[tuple[str, str | None]]:
    """(case, TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD) for the CLI: every folder case, the pickles both ways."""
    cases: list[tuple[str, str | None]] = [(name, None) for name in FOLDER_CASES]
    for case in PICKLE_CLI_CASES:
        cases += [(f"pickle-{pickle_case_id(case)}", None), (f"pickle-{pickle_case_id(case)}", "1")]
    return cases


def _build_cli_case(name: str, folder: Path) -> str:
    folder.mkdir(parents=True)
    if name.startswith("pickle-"):
        case = next(c for c in PICKLE_CLI_CASES if name == f"pickle-{pickle_case_id(c)}")
        write_hostile_bin(folder, *case)
        return "contains code"
    builder, match = FOLDER_CASES[name]
    builder(folder)
    return match


def _clean_env(force: str | None) -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    env.pop(FORCE_UNSAFE, None)
    if force is not None:
        env[FORCE_UNSAFE] = force
    return env


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str | None], tuple]:
    """Every CLI case as ``python -m ddim_studio sample --model BAD --out OUT`` in its own process.

    Two fresh interpreters (the hostile folder and the hostile ``.pth``, with the torch override
    set from the start) run beside one :mod:`cli_forks` process that imports once and forks a
    child per case.
    """
    root = tmp_path_factory.mktemp("cli-hostile")
    jobs, expected = [], {}
    for i, (name, force) in enumerate(_cli_cases()):
        folder = root / f"case{i}"
        match = _build_cli_case(name, folder)
        out = root / f"case{i}-out"
        argv = ["sample", "--model", str(folder), "--out", str(out), "--device", "cpu"]
        jobs.append({"argv": argv, "env": {FORCE_UNSAFE: force}, "out": str(root / f"case{i}")})
        expected[(name, force)] = (folder, out, match, root / f"case{i}")
    (root / "jobs.json").write_text(json.dumps(jobs))
    forks = subprocess.Popen(
        [sys.executable, str(FORKS), str(root / "jobs.json")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_clean_env(None),
        cwd=root,
    )
    fresh = {}
    pth = write_pickle(root / "evil.pth", hostile_payload("list", root / "pth.SENTINEL"), "zip")
    for name, model in (("fresh-folder", expected[("pickle-zip-dict", "1")][0]), ("fresh-pth", pth)):
        out = root / f"{name}-out"
        argv = ["-m", "ddim_studio", "sample", "--model", str(model), "--out", str(out), "--device", "cpu"]
        proc = subprocess.Popen(
            [sys.executable, *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_clean_env("1"),
            cwd=root,
        )
        fresh[name] = (proc, out)
    results: dict[tuple[str, str | None], tuple] = {}
    try:
        for name, (proc, out) in fresh.items():
            stdout, stderr = proc.communicate(timeout=180)
            results[(name, "1")] = (proc.returncode, stdout, stderr, out)
        stdout, stderr = forks.communicate(timeout=300)
    finally:
        for proc in [forks] + [p for p, _out in fresh.values()]:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert forks.returncode == 0, stderr[-3000:]
    statuses = json.loads(stdout.strip().splitlines()[-1])
    for (key, (_folder, out, _match, prefix)), status in zip(expected.items(), statuses, strict=True):
        child_out = Path(f"{prefix}.stdout").read_text()
        child_err = Path(f"{prefix}.stderr").read_text()
        results[key] = (status, child_out, child_err, out)
    assert not (root / "pth.SENTINEL").exists()
    return {**results, "expected": expected}  # type: ignore[dict-item]


def check_one_line_error(result: tuple, match: str) -> None:
    status, stdout, stderr, out = result
    lines = stderr.strip().splitlines()
    assert "Traceback" not in stderr, stderr[-3000:]
    assert status == 1 and len(lines) == 1, (status, stderr[-3000:])
    assert lines[0].startswith("ddim-studio sample: error: ") and match in lines[0], lines[0]
    assert stdout == "" and not out.exists()


NEEDS_FORK = pytest.mark.skipif(not hasattr(os, "fork"), reason="cli_forks.py forks (POSIX)")


@NEEDS_FORK
@pytest.mark.parametrize("name", ["fresh-folder", "fresh-pth"])
def test_cli_in_a_fresh_interpreter_refuses_a_hostile_model(cli_runs, name: str) -> None:  # type: ignore[no-untyped-def]
    """``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` set before python starts; no sentinel, one line."""
    check_one_line_error(cli_runs[(name, "1")], "contains code")
    folder = cli_runs["expected"][("pickle-zip-dict", "1")][0]
    assert not sentinel_for(folder).exists()


@NEEDS_FORK
@pytest.mark.parametrize(
    ("name", "force"),
    [pytest.param(n, f, id=n + ("-FORCE_NO_WEIGHTS_ONLY" if f else "")) for n, f in _cli_cases()],
)
def test_cli_subprocess_exits_1_with_one_line_and_no_traceback(cli_runs, name: str, force) -> None:  # type: ignore[no-untyped-def]
    folder, _out, match, _prefix = cli_runs["expected"][(name, force)]
    check_one_line_error(cli_runs[(name, force)], match)
    assert not sentinel_for(folder).exists()


# ---------------------------------------------------------------- hub ids

CODE_AND_PICKLE_SUFFIXES = (
    ".py",
    ".pyc",
    ".so",
    ".bin",
    ".pt",
    ".pth",
    ".ckpt",
    ".pkl",
    ".pickle",
    ".msgpack",
)

#: What a hub repository can hold: a pipeline with custom code, pickles in every component,
#: safetensors for components the studio never opens.
REPO_FILES = [
    ".gitattributes",
    "README.md",
    "model_index.json",
    "pipeline.py",
    "custom_unet.py",
    "__init__.py",
    "config.json",
    "diffusion_pytorch_model.safetensors",
    "diffusion_pytorch_model.bin",
    "diffusion_pytorch_model.fp16.bin",
    "model.ckpt",
    "ema.pth",
    "optimizer.pt",
    "state.pkl",
    "scheduler_config.json",
    "scheduler/scheduler_config.json",
    "scheduler/scheduling_custom.py",
    "unet/config.json",
    "unet/diffusion_pytorch_model.safetensors",
    "unet/diffusion_pytorch_model.bin",
    "unet/unet_2d_custom.py",
    "unet/diffusion_pytorch_model.safetensors.index.json",
    "text_encoder/config.json",
    "text_encoder/pytorch_model.bin",
    "text_encoder/model.safetensors",
    "vae/config.json",
    "vae/diffusion_pytorch_model.bin",
    "vae/diffusion_pytorch_model.safetensors",
    "safety_checker/pytorch_model.bin",
    "tokenizer/vocab.json",
    "nested/unet/diffusion_pytorch_model.safetensors",
    "nested/config.json",
    "flax_model.msgpack",
    "tf_model.h5",
    "onnx/model.onnx",
    "lib/_ext.so",
]

EXPECTED = {
    False: {
        "model_index.json",
        "config.json",
        "diffusion_pytorch_model.safetensors",
        "scheduler_config.json",
        "scheduler/scheduler_config.json",
        "unet/config.json",
        "unet/diffusion_pytorch_model.safetensors",
    },
}
EXPECTED[True] = EXPECTED[False] | {"diffusion_pytorch_model.bin", "unet/diffusion_pytorch_model.bin"}


@pytest.mark.parametrize("allow_pickle", [False, True])
def test_hub_patterns_name_no_code_no_pickles_and_no_wildcards(allow_pickle: bool) -> None:
    patterns = hub_allow_patterns(allow_pickle=allow_pickle)
    assert patterns and len(set(patterns)) == len(patterns)
    for pattern in patterns:
        assert not any(ch in pattern for ch in "*?[]{}"), f"wildcard in {pattern!r}"
        assert ".." not in pattern and not pattern.startswith("/") and "\\" not in pattern
        assert pattern.endswith((".json", ".safetensors", ".bin")), pattern
        assert not pattern.endswith((".py", ".pyc", ".so", ".pt", ".pth", ".ckpt", ".pkl", ".pickle"))
        if pattern.endswith(".bin"):
            assert allow_pickle and pattern in (
                "diffusion_pytorch_model.bin",
                "unet/diffusion_pytorch_model.bin",
                "vqvae/diffusion_pytorch_model.bin",  # a latent model's autoencoder (tensors only)
            )


@pytest.mark.parametrize("allow_pickle", [False, True])
def test_hub_patterns_select_only_configs_and_unet_weights_from_a_real_listing(allow_pickle: bool) -> None:
    """Filtered by huggingface_hub's own matcher (the one snapshot_download uses) and by fnmatch."""
    from huggingface_hub.utils import filter_repo_objects

    patterns = hub_allow_patterns(allow_pickle=allow_pickle)
    chosen = set(filter_repo_objects(REPO_FILES, allow_patterns=patterns))
    assert chosen == EXPECTED[allow_pickle]
    by_fnmatch = {f for f in REPO_FILES if any(fnmatch.fnmatch(f, p) for p in patterns)}
    assert by_fnmatch == EXPECTED[allow_pickle]
    risky = {f for f in chosen if f.endswith(CODE_AND_PICKLE_SUFFIXES)}
    assert risky == (
        {"diffusion_pytorch_model.bin", "unet/diffusion_pytorch_model.bin"} if allow_pickle else set()
    )


@pytest.mark.parametrize("allow_pickle", [False, True])
def test_download_from_hub_asks_for_exactly_those_patterns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, allow_pickle: bool
) -> None:
    import huggingface_hub

    calls: list[dict] = []

    def fake_snapshot(repo_id: str, **kwargs: object) -> str:
        calls.append({"repo_id": repo_id, **kwargs})
        return str(tmp_path)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot)
    assert hub_module.download_from_hub("owner/name", allow_pickle=allow_pickle) == tmp_path
    (call,) = calls
    assert call["repo_id"] == "owner/name"
    assert call["allow_patterns"] == hub_allow_patterns(allow_pickle)
    assert not call.get("ignore_patterns") and "trust_remote_code" not in call


def test_a_hostile_bin_from_the_hub_is_still_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With --allow-pickle a hub repo's .bin is fetched, and still opened as tensors only."""
    import huggingface_hub

    folder = write_hostile_bin(tmp_path / "snapshot", "dict", "zip")
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo_id, **kwargs: str(folder))
    monkeypatch.setenv(FORCE_UNSAFE, "1")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelLoadError, match="contains code"):
        load_model("evil-owner/evil-unet", device="cpu", allow_pickle=True)
    assert not sentinel_for(folder).exists()


# ---------------------------------------------------------------- round two (issue 17)


def _folder_with(tmp_path: Path, **changes: object) -> Path:
    """The good tiny folder with ``changes`` written into its config.json (NaN as JSON's NaN)."""
    folder = write_good_folder(tmp_path / "model")
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("norm_eps", "x", id="norm-eps-text"),
        pytest.param("norm_eps", -1e-5, id="norm-eps-negative"),
        pytest.param("norm_eps", 0, id="norm-eps-zero"),
        pytest.param("mid_block_scale_factor", float("nan"), id="mid-block-scale-nan"),
        pytest.param("mid_block_scale_factor", float("inf"), id="mid-block-scale-inf"),
        pytest.param("dropout", float("nan"), id="dropout-nan"),
        pytest.param("dropout", True, id="dropout-bool"),
    ],
)
def test_load_model_refuses_a_bad_real_valued_unet_field(tmp_path: Path, field: str, value: object) -> None:
    """A text ``norm_eps`` used to fail in the first forward pass; a NaN scale made every picture NaN."""
    error = refused(_folder_with(tmp_path, **{field: value}), field)
    assert "\n" not in str(error)


def test_load_model_refuses_a_config_whose_x_T_alone_is_gigabytes(tmp_path: Path) -> None:
    """A 215 kB folder with ``in_channels 64, sample_size 4096``: x_T alone is 4 GiB per picture."""
    folder = _folder_with(tmp_path, in_channels=64, out_channels=64, sample_size=4096)
    error = refused(folder, "4.0 GiB")
    assert "64×4096×4096" in str(error)


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.uint8, torch.bool], ids=str)
def test_load_model_refuses_weights_of_an_integer_or_bool_dtype(tmp_path: Path, dtype: torch.dtype) -> None:
    """Right names and shapes, wrong dtype: used to be a 140-line load_state_dict error."""
    from safetensors.torch import save_file

    folder = write_good_folder(tmp_path / "model")
    state = tiny_state_dict()
    save_file({k: v.to(dtype) for k, v in state.items()}, str(folder / "diffusion_pytorch_model.safetensors"))
    error = refused(folder, str(dtype).removeprefix("torch."))
    assert "not weights of a model" in str(error) and "\n" not in str(error)


@pytest.mark.parametrize("value", [float("nan"), float("inf")], ids=["all-nan", "all-inf"])
def test_load_model_refuses_weights_that_are_not_numbers(tmp_path: Path, value: float) -> None:
    from safetensors.torch import save_file

    folder = write_good_folder(tmp_path / "model")
    nan_state = {k: torch.full_like(v, value) for k, v in tiny_state_dict().items()}
    save_file(nan_state, str(folder / "diffusion_pytorch_model.safetensors"))
    refused(folder, "not numbers")


def test_a_ddim_yaml_with_dropout_nan_or_image_size_true_is_refused(tiny_ckpt: Path, tmp_path: Path) -> None:
    config = json.loads(tiny_ckpt.with_name("tiny_config.json").read_text())
    nan = tmp_path / "nan.yml"
    nan.write_text(yaml.safe_dump({**config, "dropout": float("nan")}))
    assert ".nan" in nan.read_text()
    refused(tiny_ckpt, "dropout", config=nan)
    flag = tmp_path / "flag.yml"
    flag.write_text(yaml.safe_dump({"model": config, "data": {"image_size": True}}))
    refused(tiny_ckpt, "image size True", config=flag)


def test_a_checkpoint_without_config_names_no_flag_the_command_line_lacks(tiny_ckpt: Path) -> None:
    error = refused(tiny_ckpt, "config file")
    assert "--model-config" in str(error) and "resolution" not in str(error).split("weights;")[-1]


def _none_opcodes(path: Path, megabytes: int, fmt: str) -> Path:
    """A pickle of ``megabytes`` MB of NONE opcodes: in a deflated torch zip, or the legacy format."""
    block = b"N" * (1 << 20)
    if fmt == "zip":
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
            with zf.open("archive/data.pkl", "w", force_zip64=True) as fh:
                fh.write(b"\x80\x02")
                for _ in range(megabytes):
                    fh.write(block)
                fh.write(b".")
            zf.writestr("archive/version", "3\n")
    else:
        with path.open("wb") as fh:
            fh.write(pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2))  # torch's legacy magic number
            fh.write(b"\x80\x02")
            for _ in range(megabytes):
                fh.write(block)
            fh.write(b".")
    return path


@pytest.mark.timeout(120)  # a hang guard (the old loader took 390 s), not a speed threshold
@pytest.mark.parametrize(
    ("fmt", "megabytes", "match"),
    [("zip", 250, "too large for weights"), ("zip", 60, "instructions"), ("legacy", 300, "instructions")],
)
def test_a_pickle_of_useless_opcodes_is_refused_in_seconds(
    tmp_path: Path, fmt: str, megabytes: int, match: str
) -> None:
    """A 255 kB checkpoint used to tie the loader up for 390 s and 2.5 GB; the legacy format had no cap.

    250 MB is now over the uncompressed-pickle cap; 60 MB is under it and stopped by the opcode budget.
    """
    import tracemalloc

    from ddim_studio.core.models.safe_load import load_checkpoint

    path = _none_opcodes(tmp_path / "model.pth", megabytes, fmt)
    if fmt == "zip":
        assert path.stat().st_size < 400_000
    tracemalloc.start()
    try:
        with pytest.raises(ModelLoadError, match=match):
            load_checkpoint(path)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 200 * 1024**2


def test_a_zip_record_with_a_negative_element_count_is_one_line(tmp_path: Path) -> None:
    from ddim_studio.core.models.safe_load import load_checkpoint

    path = tmp_path / "neg.pth"
    torch.save({"w": torch.zeros(5)}, path)
    with zipfile.ZipFile(path) as zin:
        members = [(info.filename, zin.read(info)) for info in zin.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zout:
        for name, data in members:
            if name.endswith("data.pkl"):
                assert b"K\x05tq\x07Q" in data  # the storage record: (…, 'cpu', numel 5)
                data = data.replace(b"K\x05tq\x07Q", b"J\xfb\xff\xff\xfftq\x07Q")  # numel -5
            zout.writestr(name, data)
    with pytest.raises(ModelLoadError, match="impossible size") as info:
        load_checkpoint(path)
    assert "\n" not in str(info.value) and "impossible size" in str(info.value)


@pytest.mark.parametrize("what", ["model-config-fifo", "checkpoint-fifo", "dev-zero", "config-json-fifo"])
def test_a_fifo_or_device_as_a_model_input_is_refused_unopened(
    tiny_ckpt: Path, tmp_path: Path, what: str
) -> None:
    """``--model-config fifo.yml`` used to hang; nothing is opened that is not a regular file."""
    if what == "model-config-fifo":
        fifo = tmp_path / "fifo.yml"
        os.mkfifo(fifo)
        refused(tiny_ckpt, "named pipe", config=fifo)
    elif what == "checkpoint-fifo":
        fifo = tmp_path / "fifo.pth"
        os.mkfifo(fifo)
        refused(fifo, "named pipe")
    elif what == "dev-zero":
        refused(Path("/dev/zero"), "is a device")
    else:
        folder = write_good_folder(tmp_path / "model")
        (folder / "config.json").unlink()
        os.mkfifo(folder / "config.json")
        refused(folder, "config.json")


def test_a_config_with_unknown_keys_is_not_echoed(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """diffusers logged every unknown key of config.json in one line (900 kB for a padded config)."""
    junk = {f"junk_{i:05d}": "x" * 40 for i in range(10_000)}
    folder = _folder_with(tmp_path, **junk)
    assert (folder / "config.json").stat().st_size > 500_000
    capfd.readouterr()
    model, _info = load_model(folder, device="cpu")
    out, err = capfd.readouterr()
    assert "junk_" not in out + err and len(out + err) < 2000
    assert model.sample_shape == (3, 8, 8)


@pytest.mark.parametrize(
    ("field", "value"),
    [("beta_end", 5.0), ("beta_end", float("nan")), ("beta_start", -0.1), ("num_diffusion_timesteps", 0)],
)
def test_a_ddim_yaml_with_an_impossible_schedule_is_refused(
    tiny_ckpt: Path, tmp_path: Path, field: str, value: float
) -> None:
    """The same schedule checks for the original configs' ``diffusion`` section (YAML)."""
    config = json.loads(tiny_ckpt.with_name("tiny_config.json").read_text())
    path = tmp_path / "schedule.yml"
    path.write_text(yaml.safe_dump({**config, field: value}))
    error = refused(tiny_ckpt, field.replace("num_diffusion", "num_train"), config=path)
    assert "\n" not in str(error)
