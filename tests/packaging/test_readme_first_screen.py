"""The README's first screen, in the order a newcomer needs it (issue 25 item 15)."""

from __future__ import annotations

from pathlib import Path

README = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
INSTALL = "python -m pip install . && ddim-studio"
TESTS = 'python -m pip install -e ".[test]" && python -m pytest -q'  # .ci/run greps for it
CPU_TORCH = "pip install torch --index-url https://download.pytorch.org/whl/cpu"


def test_clone_and_cpu_torch_come_before_the_install_commands() -> None:
    for command in (INSTALL, TESTS, CPU_TORCH, "git clone", "&& cd "):
        assert command in README, command
    clone, cpu = README.index("git clone"), README.index(CPU_TORCH)
    assert clone < cpu < README.index(INSTALL) < README.index(TESTS)
    assert README.index(TESTS) < README.index("## ")  # all on the first screen, before any section


def test_the_ci_script_runs_the_readme_test_command() -> None:
    script = (Path(__file__).parents[2] / ".ci" / "run").read_text(encoding="utf-8")
    assert script.count(TESTS) == 2  # grepped for, then run
