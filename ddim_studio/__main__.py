"""``ddim-studio`` / ``python -m ddim_studio``: the window by default, subcommands otherwise."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ddim-studio`` script."""
    from ddim_studio.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
