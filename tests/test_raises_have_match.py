"""Every ``pytest.raises`` checks the message too (issue 20): an error of the right class with the
wrong words is a failure, since the words are what a person reads.

Exceptions that carry no message (an interrupt, a cancellation) are the only ones let through.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
#: Raised without a message, so there is nothing to match.
WORDLESS = {"KeyboardInterrupt", "CancelledError", "Terminated"}  # Terminated: the CLI's SIGTERM


def raises_without_match(source: str) -> list[int]:
    """Line numbers of ``pytest.raises(...)`` calls with no ``match=`` for a worded exception."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "raises"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "pytest"
        ):
            continue
        if any(k.arg == "match" for k in node.keywords) or len(node.args) > 1:
            continue
        expected = node.args[0] if node.args else None
        name = expected.attr if isinstance(expected, ast.Attribute) else getattr(expected, "id", "")
        if name not in WORDLESS:
            lines.append(node.lineno)
    return lines


def test_every_pytest_raises_matches_the_message() -> None:
    missing = [
        f"{path.relative_to(TESTS.parent)}:{line}"
        for path in sorted(TESTS.rglob("*.py"))
        if "fixtures" not in path.relative_to(TESTS).parts
        for line in raises_without_match(path.read_text(encoding="utf-8"))
    ]
    assert missing == [], "pytest.raises without match=:\n" + "\n".join(missing)


def test_the_check_finds_a_raises_without_match() -> None:
    source = (
        "import asyncio, pytest\n"
        "with pytest.raises(ValueError):\n    pass\n"
        "with pytest.raises(ValueError, match='bad'):\n    pass\n"
        "with pytest.raises(asyncio.CancelledError):\n    pass\n"
    )
    assert raises_without_match(source) == [2]
