"""``hemtools losses``: the registered losses, their parameters and claimed minimisers."""

from __future__ import annotations

import argparse
import sys

from ._common import print_json

NAME = "losses"
ORDER = 90
HELP = "list the registered losses and their parameters"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the registry as JSON")


def run(args: argparse.Namespace) -> int:
    from hemtools.losses import registered
    from hemtools.losses.registry import broken_entry_points

    reg = registered()
    for name, exc in sorted(broken_entry_points().items()):  # listed, not fatal: the other losses still work
        print(f"hemtools losses: {exc} (not listed; `verify --loss {name}` shows its traceback)", file=sys.stderr)
    if args.json:
        print_json([s.to_dict() for _, s in sorted(reg.items())])
        return 0
    for name, spec in sorted(reg.items(), key=lambda kv: (kv[1].kind, kv[1].family, kv[0])):
        params = ", ".join(f"{p.name}={p.default}" for p in spec.params.values())
        print(f"{name:<16} {spec.kind:<6} {params:<44} {spec.doc}")
    from hemtools.losses.adapters import LIBRARIES

    print("\nexternal losses (their library is imported only when named):")
    for what, install in LIBRARIES.values():
        print(f"  {what}\n      ({install})")
    print("\nand any module:function or path/to/file.py:function (see README, 'Adding your loss')")
    return 0
