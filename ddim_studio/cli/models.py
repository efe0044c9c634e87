"""``ddim-studio models``: the model library on the command line (list, pull, rm).

``models list [--json]`` prints the catalogue and what is on disk with sizes (the same rows as
Model ▸ Library…); ``models pull ID`` checks the model from its configs, then downloads its
safetensors into the Hugging Face cache with a progress bar on stderr (Ctrl+C keeps what arrived;
the next ``pull`` resumes it); ``models rm ID`` deletes it from the cache and says how much it freed.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ddim_studio.core.names import BACKEND_NAMES, PRECISION_NAMES


def add_parser(sub: Any) -> None:
    """Register ``models`` and its subcommands ``list``, ``pull`` and ``rm``."""
    p = sub.add_parser("models", help="list, download and delete models (the model library)")
    p.set_defaults(json=False)
    actions = p.add_subparsers(dest="models_command", metavar="{list,pull,rm}", parser_class=type(p))
    actions.required = True
    listing = actions.add_parser("list", help="the catalogue and the models on disk, with sizes")
    listing.add_argument("--json", action="store_true", help="print the rows as JSON on stdout")
    listing.add_argument(
        "--estimate", action="store_true", help="time this machine and add the seconds per step"
    )
    listing.add_argument("--device", default="cpu", help="device the estimate is for (default: cpu)")
    listing.add_argument(
        "--backend",
        default="auto",
        choices=list(BACKEND_NAMES),
        help="backend the estimate is for (as in sample)",
    )
    listing.add_argument(
        "--precision", default="auto", choices=list(PRECISION_NAMES), help="precision the estimate is for"
    )
    pull = actions.add_parser("pull", help="download a model (resumes an interrupted download)")
    pull.add_argument("id", help="hub id owner/name, e.g. google/ddpm-cifar10-32")
    pull.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    remove = actions.add_parser("rm", help="delete a downloaded model from the Hugging Face cache")
    remove.add_argument("id", help="hub id owner/name")
    remove.add_argument("--json", action="store_true", help="print a JSON summary on stdout")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run ``models list``, ``models pull`` or ``models rm``; returns the JSON summary."""
    return {"list": _list, "pull": _pull, "rm": _remove}[args.models_command](args)


def _list(args: argparse.Namespace) -> dict[str, Any]:
    from ddim_studio.operations.models import format_bytes, library_rows

    rate, engine = None, ""
    if args.estimate:
        from ddim_studio.operations.cost import backend_rate

        rate, engine = backend_rate(args.device, args.backend, args.precision)
    rows = library_rows()
    if not args.json:
        width = max(len(r.id) for r in rows) if rows else 10
        header = f"{'model':<{width}}  {'pictures':<12}  {'download':>8}  {'on disk':>8}  status"
        print(header + (f"  s/step ({engine})" if rate else ""))
        for row in rows:
            entry = row.entry
            pictures = f"{entry.resolution} px {entry.space}" if entry else "-"
            download = format_bytes(entry.download_bytes) if entry else "-"
            disk = format_bytes(row.on_disk_bytes) if row.on_disk_bytes else "-"
            line = f"{row.id:<{width}}  {pictures:<12}  {download:>8}  {disk:>8}  {row.status()}"
            seconds = row.step_seconds(rate)
            print(line + (f"  {seconds:.2f}" if seconds is not None else ""))
    summary: dict[str, Any] = {"command": "models list", "models": [r.as_dict(rate) for r in rows]}
    if rate:
        summary["gflops_per_second"] = round(rate, 3)
        summary["estimate_backend"] = engine
    return summary


class _Bar:
    """A byte progress bar on stderr (tqdm: bytes, speed, time left), fed by DownloadProgress events."""

    def __init__(self, repo_id: str) -> None:
        self.repo_id = repo_id
        self.bar: Any = None

    def __call__(self, event: Any) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(
                total=event.total_bytes, initial=event.done_bytes, unit="B", unit_scale=True,
                unit_divisor=1000, desc=self.repo_id, file=sys.stderr, dynamic_ncols=True,
            )  # fmt: skip
            return
        self.bar.update(event.done_bytes - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _pull(args: argparse.Namespace) -> dict[str, Any]:
    from ddim_studio.core import hub_cache
    from ddim_studio.core.model_library import inspect_repo, pull

    plan = inspect_repo(args.id)
    for note in plan.notes:
        print(f"note: {note}", file=sys.stderr)
    bar = _Bar(plan.repo_id)
    try:
        folder = pull(plan.repo_id, on_progress=bar, plan=plan)
    except KeyboardInterrupt:
        bar.close()
        print(f"ddim-studio models pull: stopped; run it again to resume {plan.repo_id} where it stopped.",
              file=sys.stderr)  # fmt: skip
        raise
    bar.close()
    disk = hub_cache.find_on_disk(plan.repo_id)
    size = disk.size_bytes if disk else 0
    if not args.json:
        print(f"{plan.repo_id}: on disk in {folder}")
    return {"command": "models pull", "id": plan.repo_id, "path": str(folder), "on_disk_bytes": size,
            "kind": plan.verdict.kind, "notes": plan.notes}  # fmt: skip


def _remove(args: argparse.Namespace) -> dict[str, Any]:
    from ddim_studio.core import hub_cache
    from ddim_studio.core.model_library import check_hub_id
    from ddim_studio.operations.models import format_bytes

    repo_id = check_hub_id(args.id)
    if hub_cache.find_on_disk(repo_id) is None:
        raise ValueError(f"{repo_id} is not in the Hugging Face cache ({hub_cache.default_cache_dir()}).")
    freed = hub_cache.delete(repo_id)
    if not args.json:
        print(f"{repo_id}: deleted, {format_bytes(freed)} freed")
    return {"command": "models rm", "id": repo_id, "freed_bytes": freed}
