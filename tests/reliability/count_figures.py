"""Count what the reliability suite tries: hostile inputs, fuzz examples, injected faults, soaked jobs.

Usage (from the repository root): ``python tests/reliability/count_figures.py [--json]``.

The figures come from pytest's own collection of the test files below, so they follow the tests:
every collected test case (one parametrization = one case) is put in a category by the rules in
:data:`RULES`, hypothesis tests count their ``max_examples``, and the constants that live in the
tests (``JOBS`` of the soak, ``KILLS`` of the kill test) are read from their modules. A test case
that tries several inputs in one body counts once, so the figures are lower bounds. Strict xfails
(known bugs) are counted apart. Nothing is run: collection only, a few seconds.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import sys
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

FILES = [
    "tests/reliability/test_models_hostile.py",
    "tests/reliability/test_models_fuzz.py",
    "tests/reliability/test_images_hostile.py",
    "tests/reliability/test_store_faults.py",
    "tests/reliability/test_saved_files.py",
    "tests/reliability/test_kill.py",
    "tests/reliability/test_latents_params_hostile.py",
    "tests/reliability/test_cli_round_two.py",
    "tests/reliability/test_round_three_cli.py",
    "tests/reliability/test_round_three_window.py",
    "tests/core/models/test_models_safe_load.py",
    "tests/core/test_imaging.py",
    "tests/core/test_latents.py",
    "tests/workers/test_workers_faults.py",
    "tests/workers/test_workers_shutdown.py",
    "tests/workers/test_workers_soak.py",
    "tests/ui/test_gallery.py",
    "tests/ui/test_window.py",
    "tests/ui/test_hostile_params.py",
]


def _param(item: Any, name: str) -> Any:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get(name) if callspec is not None else None


def _store_fault(item: Any) -> str | None:
    name = item.originalname
    code = _param(item, "code")
    if code is not None:
        return f"OSError {errno.errorcode[code]} while saving"
    if "disk_full" in name:
        return "OSError ENOSPC while saving"
    if "hard_links" in name:
        return "OSError EPERM from os.link (no hard links)"
    if "placing" in name or "failed_delete" in name:
        return "OSError EIO from os.link"
    if "failing_writer" in name or "interrupt" in name:
        return "exception inside a writer (ValueError, KeyboardInterrupt)"
    if "concurrent" in name:
        return "concurrent saves of one name (threads)"
    return "unwritable folder (missing, a file)"


def _worker_fault(item: Any) -> str | None:
    name, fault = item.originalname, _param(item, "fault")
    if fault in ("oom", "oom-runtime"):
        return "out of memory in the model (torch.OutOfMemoryError, RuntimeError)"
    if fault in ("nan", "inf") or "nan" in name or "finiteness" in name:
        return "NaN / Inf from the model"
    if "unexpected_error" in name:
        return "exception in the model (KeyError)"
    return None  # test_is_oom: a classifier unit test, no fault injected


Rule = tuple[str, str, Callable[[Any], str | None]]

_PARAMS = "hostile saved parameters → validate_params"
_NON_FINITE = "NaN / Inf results refused (check_finite)"
_SIZES = "hostile sizes and counts → CLI and operations (batch memory, --num, --frames)"
_LATENT_CLI = "hostile latent file → CLI (decode, interpolate)"
_OUT = "hostile --out and --seed → CLI (one line, nothing created)"
_SETTINGS = "hostile settings file → the window's start (values clamped)"

#: (file, test-name prefix or "*", categoriser) → the category of each collected case, in order;
#: the first matching rule wins, a categoriser returning None leaves the case uncounted.
RULES: list[Rule] = [
    # ---- hostile inputs
    ("test_models_hostile.py", "test_each_hostile_pickle_runs", lambda i: None),  # controls
    ("test_models_hostile.py", "test_hub_", lambda i: "hub: file patterns and repository listings"),
    (
        "test_models_hostile.py",
        "test_download_from_hub",
        lambda i: "hub: file patterns and repository listings",
    ),
    (
        "test_models_hostile.py",
        "test_a_hostile_bin_from_the_hub",
        lambda i: "hostile checkpoint → load_model",
    ),
    ("test_models_hostile.py", "test_a_pickle_of_useless", lambda i: "hostile checkpoint → safe loader"),
    ("test_models_hostile.py", "test_a_zip_record", lambda i: "hostile checkpoint → safe loader"),
    ("test_models_hostile.py", "test_load_model", lambda i: "hostile checkpoint → load_model"),
    ("test_models_hostile.py", "test_a_", lambda i: "hostile checkpoint → load_model"),
    ("test_models_hostile.py", "test_worker", lambda i: "hostile checkpoint → worker (LoadModelJob)"),
    ("test_models_hostile.py", "test_cli", lambda i: "hostile checkpoint → CLI subprocess"),
    ("test_models_fuzz.py", "test_a_sample_size", lambda i: "hostile checkpoint → load_model"),
    (
        "test_models_safe_load.py",
        "*",
        lambda i: (
            None
            if i.originalname in ("test_safetensors_round_trip", "test_plain_checkpoints_load")
            else "hostile checkpoint → safe loader"
        ),
    ),
    (
        "test_images_hostile.py",
        "*",
        lambda i: None if i.originalname == "test_intact_seeds_load" else "hostile image → load_image",
    ),
    (
        "test_imaging.py",
        "*",
        lambda i: (
            "odd image (mode, EXIF orientation, animation, ICC, 1×1, strip)"
            if any(
                k in i.originalname
                for k in (
                    "every_mode",
                    "cmyk",
                    "16bit",
                    "exif",
                    "animation",
                    "profile",
                    "one_pixel",
                    "thin_strip",
                )
            )
            else None
        ),
    ),
    ("test_latents.py", "test_wrong_files", lambda i: "hostile latent file → load_latent"),
    ("test_latents_params_hostile.py", "test_a_latent", lambda i: "hostile latent file → load_latent"),
    ("test_latents_params_hostile.py", "test_an_integer", lambda i: "hostile latent file → load_latent"),
    ("test_latents_params_hostile.py", "test_validate", lambda i: _PARAMS),
    ("test_latents_params_hostile.py", "test_png_and", lambda i: _PARAMS),
    ("test_latents_params_hostile.py", "test_carried", lambda i: _PARAMS),
    ("test_latents_params_hostile.py", "test_a_name", lambda i: "hostile output names → store"),
    ("test_latents_params_hostile.py", "test_a_file_name", lambda i: "hostile output names → store"),
    ("test_latents_params_hostile.py", "test_latent_files", lambda i: "round trip of what the app writes"),
    ("test_latents_params_hostile.py", "test_a_non_finite", lambda i: _NON_FINITE),
    ("test_latents_params_hostile.py", "test_check_finite", lambda i: _NON_FINITE),
    ("test_cli_round_two.py", "test_a_model_whose", lambda i: _NON_FINITE),
    ("test_cli_round_two.py", "test_one_non_finite", lambda i: _NON_FINITE),
    ("test_cli_round_two.py", "test_a_batch_too_large", lambda i: _SIZES),
    ("test_cli_round_two.py", "test_sample_a_billion", lambda i: _SIZES),
    ("test_cli_round_two.py", "test_interpolate_refuses", lambda i: _SIZES),
    ("test_cli_round_two.py", "test_decode_of_twenty", lambda i: _SIZES),
    ("test_cli_round_two.py", "test_decode_copies", lambda i: _LATENT_CLI),
    ("test_cli_round_two.py", "test_a_latent_file", lambda i: _LATENT_CLI),
    ("test_cli_round_two.py", "test_encode_of", lambda i: "hostile output names → store"),
    ("test_cli_round_two.py", "test_out_", lambda i: _OUT),
    ("test_cli_round_two.py", "test_a_300", lambda i: _OUT),
    ("test_cli_round_two.py", "test_a_bad_seed", lambda i: _OUT),
    ("test_cli_round_two.py", "test_two_concurrent", lambda i: "concurrent sample runs into one folder"),
    ("test_cli_round_two.py", "test_a_claim", lambda i: "concurrent sample runs into one folder"),
    ("test_cli_round_two.py", "test_a_rerun", lambda i: "rerun into a folder made with other parameters"),
    ("test_cli_round_two.py", "test_disk_full", lambda i: "OSError ENOSPC while saving"),
    ("test_round_three_cli.py", "test_edit_a_billion", lambda i: _SIZES),
    ("test_round_three_cli.py", "test_edit_refuses_seeds", lambda i: _OUT),
    ("test_round_three_cli.py", "test_a_sample_size_that_fits", lambda i: None),  # a control
    ("test_round_three_cli.py", "test_a_sample_size", lambda i: "hostile checkpoint → load_model"),
    ("test_round_three_cli.py", "test_harmonize", lambda i: _SIZES),
    ("test_round_three_cli.py", "test_a_file_of_several", lambda i: _LATENT_CLI),
    ("test_round_three_cli.py", "test_a_transparent_mask", lambda i: "hostile mask → edit (alpha)"),
    ("test_round_three_cli.py", "test_white_strokes", lambda i: "hostile mask → edit (alpha)"),
    ("test_round_three_cli.py", "test_sigterm_during", lambda i: "SIGTERM mid-run (subprocess)"),
    ("test_round_three_window.py", "test_every_setting", lambda i: _SETTINGS),
    ("test_round_three_window.py", "test_the_window_starts", lambda i: _SETTINGS),
    ("test_round_three_window.py", "test_a_symlinked", lambda i: "hostile companion file → Reuse params"),
    ("test_round_three_window.py", "test_the_edit_views_harmonize", lambda i: _SIZES),
    ("test_hostile_params.py", "*", lambda i: "hostile saved parameters → window (Reuse params/seed, drop)"),
    ("test_saved_files.py", "test_latent", lambda i: "round trip of what the app writes"),
    ("test_saved_files.py", "test_a_non_contiguous", lambda i: "round trip of what the app writes"),
    # ---- faults
    ("test_store_faults.py", "*", _store_fault),
    ("test_workers_faults.py", "*", _worker_fault),
    ("test_workers_shutdown.py", "*", lambda i: "app closed during a job (subprocess)"),
    ("test_window.py", "test_closing_while_a_job_runs", lambda i: "app closed during a job (window)"),
    ("test_window.py", "test_run_app_quits_cleanly", lambda i: "app closed during a job (subprocess)"),
    ("test_gallery.py", "test_disk_full", lambda i: "OSError ENOSPC while saving (window banner)"),
    ("test_gallery.py", "test_a_model_that_fails", lambda i: "model that fails to load (window)"),
]


class Collector:
    def __init__(self) -> None:
        self.items: list[Any] = []

    def pytest_collection_modifyitems(self, items: list[Any]) -> None:
        self.items = list(items)


def collect() -> list[Any]:
    collector = Collector()
    args = ["--collect-only", "-qq", "-p", "no:cacheprovider", *(str(ROOT / f) for f in FILES)]
    with contextlib.redirect_stdout(io.StringIO()) as out:
        status = pytest.main(args, plugins=[collector])
    if status != 0:
        raise SystemExit(f"collection failed ({status}):\n{out.getvalue()[-3000:]}")
    return collector.items


def max_examples(item: Any) -> int | None:
    settings = getattr(item.function, "_hypothesis_internal_use_settings", None)
    return settings.max_examples if getattr(item.function, "is_hypothesis_test", False) else None


def known_bug(item: Any) -> bool:
    return any(m.kwargs.get("strict") for m in item.iter_markers("xfail"))


def figures() -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    items = collect()
    cases: Counter[str] = Counter()
    bugs: dict[str, list[str]] = defaultdict(list)
    fuzz: dict[str, int] = {}
    modules: dict[str, Any] = {}
    for item in items:
        file = Path(str(item.path)).name
        modules[file] = item.module
        examples = max_examples(item)
        if examples is not None:
            fuzz[item.nodeid] = examples
            continue
        for rule_file, prefix, categorise in RULES:
            if file == rule_file and (prefix == "*" or item.originalname.startswith(prefix)):
                category = categorise(item)
                if category is not None:
                    (bugs[category].append(item.nodeid) if known_bug(item) else cases.update([category]))
                break
    kills = modules["test_kill.py"]
    jobs = modules["test_workers_soak.py"].JOBS
    hostile = {k: v for k, v in cases.items() if k.startswith(("hostile", "odd", "hub"))}
    round_trips = {k: v for k, v in cases.items() if k.startswith("round trip")}
    faults = {k: v for k, v in cases.items() if k not in hostile and k not in round_trips}
    faults["SIGKILL of the app mid-run (subprocess)"] = kills.KILLS
    return {
        "hostile_inputs": dict(sorted(hostile.items())),
        "hostile_inputs_total": sum(hostile.values()),
        "round_trips": sum(round_trips.values()),
        "known_bugs": {k: len(v) for k, v in sorted(bugs.items())},
        "known_bug_cases": sum(len(v) for v in bugs.values()),
        "fuzz_examples": fuzz,
        "fuzz_examples_total": sum(fuzz.values()),
        "faults": dict(sorted(faults.items())),
        "faults_total": sum(faults.values()),
        "jobs_soaked": jobs,
        "kills": {
            "fresh CLI": kills.FRESH_KILLS,
            "forked CLI": kills.CLI_KILLS,
            "OutputStore loop": kills.STORE_KILLS,
        },
        "cases_collected": len(items),
    }


def markdown(f: dict[str, Any]) -> str:
    lines = ["| What | Count |", "|---|---:|"]
    for name, n in f["hostile_inputs"].items():
        lines.append(f"| {name} | {n} |")
    lines.append(f"| **hostile and odd inputs, test cases** | **{f['hostile_inputs_total']}** |")
    lines.append(f"| round trips of what the app writes (bit-exact latents, params) | {f['round_trips']} |")
    for nodeid, n in f["fuzz_examples"].items():
        lines.append(f"| fuzz: `{nodeid.split('::')[-1]}` ({Path(nodeid.split('::')[0]).name}) | {n} |")
    lines.append(f"| **hypothesis examples** | **{f['fuzz_examples_total']}** |")
    for name, n in f["faults"].items():
        lines.append(f"| {name} | {n} |")
    lines.append(f"| **faults injected** | **{f['faults_total']}** |")
    lines.append(f"| **jobs soaked** | **{f['jobs_soaked']}** |")
    for name, n in f["known_bugs"].items():
        lines.append(f"| known bug (strict xfail): {name} | {n} |")
    return "\n".join(lines)


def main() -> None:
    f = figures()
    print(json.dumps(f, indent=2) if "--json" in sys.argv else markdown(f))


if __name__ == "__main__":
    main()
