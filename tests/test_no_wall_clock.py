"""No unit test limits wall-clock time (issue 20, item 5): under load such limits fail.

A test may guard against a hang (pytest-timeout's per-test timeout, a Qt wait of a minute or more,
a subprocess timeout), but how fast something is belongs in ``benchmarks/``, as a ratio to a
reference measured in the same run. This file reads every test module's syntax tree and fails on:

- an ``assert`` that reads a clock (``time.perf_counter()``, ``monotonic()``, ``time()``, …) or a
  name computed from one (``start = time.perf_counter()`` … ``assert time.perf_counter() - start < 2``);
- a Hypothesis ``deadline=`` other than ``None``;
- a pytest-qt wait (``waitUntil``, ``waitSignal``, …) whose timeout is under 60 s, also through a
  helper's ``timeout`` default, and a ``JobRunner.shutdown`` wait under 60 s;
- a ``pytest.mark.timeout`` under 60 s.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
CLOCKS = {"perf_counter", "perf_counter_ns", "monotonic", "monotonic_ns", "time", "time_ns", "process_time"}
QT_WAITS = {"waitUntil", "waitSignal", "waitSignals", "waitCallback", "waitExposed", "waitActive"}
MIN_WAIT_MS = 60_000
MIN_TIMEOUT_S = 60


def _is_clock_call(node: ast.AST) -> bool:
    """``time.perf_counter()`` and the like (also ``perf_counter()`` imported by name)."""
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr in CLOCKS and isinstance(func.value, ast.Name) and func.value.id == "time"
    return isinstance(func, ast.Name) and func.id in CLOCKS - {"time"}


def _reads_clock(node: ast.AST, tainted: set[str]) -> bool:
    return any(
        _is_clock_call(sub) or (isinstance(sub, ast.Name) and sub.id in tainted) for sub in ast.walk(node)
    )


def _names(target: ast.AST) -> set[str]:
    return {sub.id for sub in ast.walk(target) if isinstance(sub, ast.Name)}


def _tainted_names(tree: ast.AST) -> set[str]:
    """Names assigned (or appended to) from a clock reading, followed through assignments."""
    tainted: set[str] = set()
    while True:
        before = len(tainted)
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and _reads_clock(node.value, tainted):
                for target in node.targets:
                    tainted |= _names(target)
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign)) and node.value is not None:
                if _reads_clock(node.value, tainted):
                    tainted |= _names(node.target)
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in {"append", "extend"}
                and isinstance(node.func.value, ast.Name)
                and any(_reads_clock(arg, tainted) for arg in node.args)
            ):
                tainted.add(node.func.value.id)
        if len(tainted) == before:
            return tainted


def _int_constants(tree: ast.AST) -> dict[str, int]:
    """Module-level ``NAME = <int>`` assignments."""
    found: dict[str, int] = {}
    for node in getattr(tree, "body", []):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            if isinstance(node.value.value, int) and not isinstance(node.value.value, bool):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        found[target.id] = node.value.value
    return found


def _value(node: ast.AST, constants: dict[str, int]) -> int | float | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    return None


def _call_name(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _helper_defaults(tree: ast.AST, known: dict[str, int]) -> list[str]:
    """A helper's ``timeout`` default under 60 s, where the helper hands it to a pytest-qt wait."""
    found: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        positional = [a.arg for a in node.args.posonlyargs + node.args.args]
        defaults = dict(
            zip(positional[len(positional) - len(node.args.defaults) :], node.args.defaults, strict=True)
        )
        defaults.update(
            {
                a.arg: d
                for a, d in zip(node.args.kwonlyargs, node.args.kw_defaults, strict=True)
                if d is not None
            }
        )
        passed = {
            kw.value.id
            for call in ast.walk(node)
            if isinstance(call, ast.Call) and _call_name(call) in QT_WAITS
            for kw in call.keywords
            if kw.arg == "timeout" and isinstance(kw.value, ast.Name)
        }
        for name in passed & set(defaults):
            ms = _value(defaults[name], known)
            if ms is not None and ms < MIN_WAIT_MS:
                found.append(
                    f"line {node.lineno}: {node.name}'s {name} default {ms} ms (under {MIN_WAIT_MS})"
                )
    return found


def wall_clock_limits(source: str, constants: dict[str, int] | None = None) -> list[str]:
    """Each wall-clock limit in ``source``, as ``"line N: what"``."""
    tree = ast.parse(source)
    known = {**(constants or {}), **_int_constants(tree)}
    tainted = _tainted_names(tree)
    found = _helper_defaults(tree, known)
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert) and _reads_clock(node.test, tainted):
            found.append(f"line {node.lineno}: an assert reads the clock")
        if not isinstance(node, ast.Call):
            continue
        name = _call_name(node)
        for keyword in node.keywords:
            if keyword.arg == "deadline" and not (
                isinstance(keyword.value, ast.Constant) and keyword.value.value is None
            ):
                found.append(f"line {node.lineno}: a Hypothesis deadline other than None")
            if keyword.arg == "timeout" and name in QT_WAITS:
                ms = _value(keyword.value, known)
                if ms is not None and ms < MIN_WAIT_MS:
                    found.append(f"line {node.lineno}: {name} timeout {ms} ms (under {MIN_WAIT_MS})")
        receiver = ast.unparse(node.func.value) if isinstance(node.func, ast.Attribute) else ""
        if name == "shutdown" and node.args and "runner" in receiver:  # JobRunner.shutdown(ms), not a socket
            ms = _value(node.args[0], known)
            if ms is not None and ms < MIN_WAIT_MS:
                found.append(f"line {node.lineno}: shutdown({ms}) (under {MIN_WAIT_MS} ms)")
        is_mark = isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Attribute)
        if name == "timeout" and is_mark and node.func.value.attr == "mark" and node.args:  # type: ignore[union-attr]
            seconds = _value(node.args[0], known)
            if seconds is not None and seconds < MIN_TIMEOUT_S:
                found.append(f"line {node.lineno}: pytest.mark.timeout({seconds}) (under {MIN_TIMEOUT_S} s)")
    return found


def _test_sources() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "fixtures" not in p.relative_to(TESTS).parts)


def test_no_test_limits_wall_clock_time() -> None:
    sources = {path: path.read_text(encoding="utf-8") for path in _test_sources()}
    constants: dict[str, int] = {}
    for text in sources.values():  # WAIT_MS and the like, imported from a conftest
        constants.update(_int_constants(ast.parse(text)))
    problems = [
        f"{path.relative_to(TESTS.parent)} {problem}"
        for path, text in sources.items()
        for problem in wall_clock_limits(text, constants)
    ]
    assert len(sources) > 50 and problems == [], "\n".join(problems)


@pytest.mark.parametrize(
    "source",
    [
        "import time\nstart = time.perf_counter()\nf()\nassert time.perf_counter() - start < 2.0\n",
        "import time\ndef t():\n    a = time.monotonic()\n    f()\n    latency = time.monotonic() - a\n"
        "    assert latency <= 1.0\n",
        "import time\ntimes = [time.perf_counter()]\ntimes.append(time.perf_counter())\n"
        "gap = max(b - a for a, b in zip(times, times[1:]))\nassert gap < 0.1\n",
        "from time import perf_counter\nt0 = perf_counter()\nassert perf_counter() - t0 < 1\n",
        "from hypothesis import settings\nFUZZ = settings(max_examples=5, deadline=2000)\n",
        "def t(qtbot):\n    qtbot.waitUntil(lambda: True, timeout=2000)\n",
        "TIMEOUT = 20_000\ndef t(qtbot, s):\n    with qtbot.waitSignal(s, timeout=TIMEOUT):\n        pass\n",
        "import pytest\n@pytest.mark.timeout(5)\ndef test_x():\n    pass\n",
        "def wait_idle(qtbot, runner, timeout: int = 20_000):\n"
        "    qtbot.waitUntil(lambda: not runner.is_busy, timeout=timeout)\n",
        "def t(runner):\n    assert runner.shutdown(5000)\n",
    ],
    ids=[
        "assert-delta",
        "tainted-name",
        "appended-list",
        "bare-import",
        "deadline",
        "qt-wait",
        "qt-wait-constant",
        "mark-timeout",
        "helper-default",
        "shutdown",
    ],
)
def test_the_check_finds_each_kind_of_limit(source: str) -> None:
    assert len(wall_clock_limits(source)) == 1, wall_clock_limits(source)


def test_the_check_lets_hang_guards_and_timestamps_pass() -> None:
    source = (
        "import time, os, pytest\n"
        "from hypothesis import settings\n"
        "WAIT_MS = 60_000\n"
        "FUZZ = settings(max_examples=5, deadline=None)\n"
        "@pytest.mark.timeout(120)\n"
        "def t(qtbot, s, path):\n"
        "    qtbot.waitUntil(lambda: True, timeout=WAIT_MS)\n"
        "    now = time.time()\n"
        "    os.utime(path, (now - 60, now - 60))\n"
        "    assert path.exists()\n"
    )
    assert wall_clock_limits(source) == []
