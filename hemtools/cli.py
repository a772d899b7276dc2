"""The command line: ``hemtools <command> ...`` and the ``verify`` console script.

Only this module (and ``hemtools.commands``) parses arguments, prints and chooses exit codes (SPEC §5):
  0 confirmed · 1 refuted · 2 usage error (one line on stderr, no traceback) · 3 inconclusive ·
  4 internal error or error in user code (with traceback) · 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import traceback

from hemtools.results import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE  # the one exit-code table (SPEC §5)


class Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (argparse prints the whole usage block by default)."""

    def error(self, message: str):  # noqa: D102
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _command_modules() -> list:
    import hemtools.commands as pkg

    mods = []
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"hemtools.commands.{info.name}")
        if hasattr(mod, "NAME") and hasattr(mod, "run"):
            mods.append(mod)
    return sorted(mods, key=lambda m: (getattr(m, "ORDER", 100), m.NAME))


def build_parser(prog: str = "hemtools") -> Parser:
    from hemtools import __version__

    parser = Parser(prog=prog, description="Numerical proofs of what contrastive losses are minimised by.",
                    epilog="Exit codes: 0 confirmed, 1 refuted, 2 usage error, 3 inconclusive, 4 error.")
    parser.add_argument("--version", action="version", version=f"hemtools {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    parser.commands = {}
    for mod in _command_modules():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(p)
        p.set_defaults(_module=mod)
        parser.commands[mod.NAME] = p
    return parser


def _unrecognized(parser: Parser, args, extra: list[str]) -> None:
    """Arguments no parser took: the command's own one-line error (argparse gives them to the top-level parser,
    whose message names neither the command nor its --help), with the closest option of that command."""
    import difflib

    command = parser.commands.get(getattr(args, "command", None), parser)
    options = [o for a in command._actions for o in a.option_strings]
    hints = [close[0] for x in extra if x.startswith("--")
             for close in [difflib.get_close_matches(x.split("=", 1)[0], options, n=1, cutoff=0.7)] if close]
    hint = f"; did you mean {' / '.join(hints)}?" if hints else ""
    command.error(f"unrecognized arguments: {' '.join(extra)}{hint}")


def main(argv: list[str] | None = None, prog: str = "hemtools") -> int:
    """Run the CLI; returns the exit code (never calls sys.exit itself)."""
    from hemtools.commands._common import readable_stdout

    with readable_stdout():  # --help and every result, also on a cp1252/ascii stdout
        return _main(argv, prog)


def _main(argv: list[str] | None, prog: str) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(prog)
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:
            _unrecognized(parser, args, extra)
    except SystemExit as exc:  # --help, --version, or a usage error already printed in one line
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_USAGE
    if getattr(args, "_module", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return run_command(args._module.run, args, args.command)


def _err(text: str) -> None:
    """Write to stderr; a closed or full stderr (``2>&1 | head``) must not turn the exit code into Python's 1."""
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def run_command(fn, args, name: str) -> int:
    from hemtools.commands._common import json_stdout
    from hemtools.errors import ArgumentError, UserCodeError

    try:
        # with --json, anything but the document (a user loss that prints) goes to stderr
        with json_stdout(bool(getattr(args, "json", False))):
            return int(fn(args))
    except ArgumentError as exc:
        _err(f"hemtools {name}: error: {exc}\n")
        return EXIT_USAGE
    except UserCodeError as exc:
        _err(f"{exc.traceback_text}hemtools {name}: {exc}\n")
        return EXIT_ERROR
    except KeyboardInterrupt:
        _err(f"hemtools {name}: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. piped into `head`
        return 0
    except SystemExit as exc:  # sys.exit() in code hemtools called: never an exit code of ours (0 = "confirmed")
        _err(f"{traceback.format_exc()}hemtools {name}: error: sys.exit({exc.code!r}) was called during the run; "
             f"exit code 4, not {exc.code!r}\n")
        return EXIT_ERROR
    except Exception:  # an internal error: show everything
        _err(f"{traceback.format_exc()}hemtools {name}: internal error (please report it with the traceback above)\n")
        return EXIT_ERROR


def main_entry() -> None:
    sys.exit(main())


def verify_entry() -> None:
    """The ``verify`` console script: the same command as ``hemtools verify``."""
    sys.exit(main(["verify", *sys.argv[1:]], prog="hemtools"))
