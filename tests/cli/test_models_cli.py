"""``ddim-studio models list|pull|rm`` against the loopback hub with the real huggingface_hub client."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ddim_studio.cli import main
from ddim_studio.core import hub_cache, model_library
from ddim_studio.operations import cost, thumbnails
from tests.helpers import hub_repos
from tests.helpers.hub_server import LoopbackHub, point_client_at

ROOT = Path(__file__).resolve().parents[2]
WEIGHTS = "diffusion_pytorch_model.safetensors"


@pytest.fixture(scope="module")
def hub_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hub")
    hub_repos.google_layout(root, "google/ddpm-cifar10-32", width=32)
    hub_repos.consistency(root, "tests/consistency")
    return root


@pytest.fixture
def hub(hub_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    with LoopbackHub(hub_root) as server:
        point_client_at(monkeypatch, server, tmp_path / "cache")
        yield server


def test_list_pull_and_rm(
    hub: LoopbackHub, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from ddim_studio.core import catalogue

    monkeypatch.setattr(catalogue, "LATENT_MODELS", False)  # a build without latent support says so
    assert main(["models", "list", "--json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)["models"]}
    assert rows["google/ddpm-cifar10-32"]["status"] == "not downloaded"
    assert rows["CompVis/ldm-celebahq-256"]["status"] == "needs latent-model support"
    monkeypatch.setattr(catalogue, "LATENT_MODELS", True)  # this build drives latent models
    assert main(["models", "list", "--json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)["models"]}
    assert rows["CompVis/ldm-celebahq-256"]["status"] == "not downloaded"
    assert rows["google/ddpm-celebahq-256"]["parameters"] == 113_673_219

    assert main(["models", "pull", "google/ddpm-cifar10-32"]) == 0
    out, err = capsys.readouterr()
    assert "on disk in" in out and "google/ddpm-cifar10-32" in err and "MB" in err  # the bar on stderr
    assert main(["models", "list"]) == 0
    table = capsys.readouterr().out
    line = next(x for x in table.splitlines() if x.startswith("google/ddpm-cifar10-32 "))
    assert "on disk" in line and "2.6 MB" in line
    # A thumbnail made from the downloaded model is listed with it.
    monkeypatch.setenv("DDIM_STUDIO_CACHE_DIR", str(tmp_path / "studio"))
    snapshot = hub_cache.find_on_disk("google/ddpm-cifar10-32").snapshot  # type: ignore[union-attr]
    made = thumbnails.make_thumbnail(snapshot, backend="torch")
    assert main(["models", "list", "--json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)["models"]}
    assert rows["google/ddpm-cifar10-32"]["thumbnail"] == str(made) and made.is_file()  # type: ignore[union-attr]

    size = hub_cache.find_on_disk("google/ddpm-cifar10-32").size_bytes  # type: ignore[union-attr]
    assert main(["models", "rm", "google/ddpm-cifar10-32", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["freed_bytes"] == size
    assert hub_cache.find_on_disk("google/ddpm-cifar10-32") is None
    assert main(["models", "rm", "google/ddpm-cifar10-32"]) == 1
    assert "is not in the Hugging Face cache" in capsys.readouterr().err


def test_pull_refuses_an_unsupported_model_in_one_line(hub: LoopbackHub, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["models", "pull", "tests/consistency"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "consistency model" in err and "Traceback" not in err
    assert not any(r.path.endswith(".safetensors") for r in hub.requests)


def test_an_interrupted_pull_resumes(hub: LoopbackHub, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    # The hold falls on a whole number of the client's read chunks: the bytes before it are on
    # disk while the server waits (no read timeout needed), and a long timeout keeps the client
    # from retrying on its own while this test, on a busy machine, is slow to look.
    hub.state.hold_after = 4 * model_library.CHUNK_BYTES
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_DOWNLOAD_TIMEOUT="600")
    # Ctrl+C's default: a suite started in the background (`bash .ci/run &`) passes SIGINT on as
    # ignored, and Python then leaves it ignored (as `nohup` wants), so the pull would never hear it.
    restore_ctrl_c = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)  # noqa: E731
    proc = subprocess.Popen([sys.executable, "-m", "ddim_studio", "models", "pull", "google/ddpm-cifar10-32"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=restore_ctrl_c)  # fmt: skip
    folder = hub_cache.repo_folder("google/ddpm-cifar10-32")
    deadline = time.monotonic() + 300  # a hang guard, not a speed limit
    while time.monotonic() < deadline and not (
        hub.state.holding.is_set()
        and any(p.stat().st_size >= hub.state.hold_after for p in hub_cache.partial_files(folder))
    ):
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    try:
        _out, err = proc.communicate(timeout=300)
    finally:
        hub.state.release.set()  # only now: released earlier, the rest of the file could beat the signal
    assert proc.returncode == 130, err
    assert "run it again to resume" in err
    (partial,) = hub_cache.partial_files(folder)
    kept = partial.stat().st_size
    hub.state.hold_after = None
    assert main(["models", "pull", "google/ddpm-cifar10-32"]) == 0
    assert hub.fetched("google/ddpm-cifar10-32", WEIGHTS)[-1].range == f"bytes={kept}-"
    assert hub_cache.find_on_disk("google/ddpm-cifar10-32").complete  # type: ignore[union-attr]


@pytest.mark.parametrize(("backend", "words"), [("torch", "torch, float32 (exact)"),
                                                ("openvino", "OpenVINO, float32 (exact)")])  # fmt: skip
def test_the_estimate_is_timed_on_the_backend_asked_for(
    hub: LoopbackHub,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    backend: str,
    words: str,
) -> None:
    if backend == "openvino":
        pytest.importorskip("openvino")
    tiny = dict(cost.REFERENCE_UNET, block_out_channels=[8, 8, 8, 8], norm_num_groups=4, sample_size=16)
    monkeypatch.setattr(cost, "REFERENCE_UNET", tiny)
    monkeypatch.setenv("DDIM_STUDIO_CACHE_DIR", str(tmp_path / "studio"))
    args = ["models", "list", "--estimate", "--backend", backend, "--precision", "exact", "--json"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["estimate_backend"] == words and summary["gflops_per_second"] > 0
    rows = {r["id"]: r for r in summary["models"]}
    small, big = rows["google/ddpm-cifar10-32"], rows["google/ddpm-celebahq-256"]
    assert 0 < small["seconds_per_step"] < big["seconds_per_step"]
