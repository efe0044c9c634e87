"""``ddim-studio`` / ``python -m ddim_studio``: the window by default, subcommands otherwise."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ddim-studio`` script."""
    from ddim_studio.cli import main as cli_main

    return cli_main(argv)


def gui_main() -> int:
    """Entry point of the ``ddim-studio-gui`` script: the window only.

    On Windows pip makes it a windowed executable (no console window); it has no stdout, so it
    takes no subcommands, only ``--model SOURCE`` (the model to open instead of the default).
    """
    from ddim_studio.ui.app import run_app

    args = sys.argv[1:]
    model = args[args.index("--model") + 1] if "--model" in args[:-1] else None
    return run_app(model=model)


if __name__ == "__main__":
    sys.exit(main())
