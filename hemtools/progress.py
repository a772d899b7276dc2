"""One progress display for the long commands (sweep, conditions): tqdm on a terminal.

``Progress(total, describe=...)`` is called once per finished item with ``(i, n, item)``; ``describe(item)``
is the text shown for it.  On a terminal (stderr a tty) with tqdm installed: a bar with that text.
Otherwise ``lines=True`` prints one line per item on stderr (``[i/n] text``), ``lines=False`` prints
nothing (the command's table follows).  Standard library at import; tqdm is imported when a bar is drawn.
"""

from __future__ import annotations

import sys
from collections.abc import Callable


class Progress:
    def __init__(self, total: int, *, describe: Callable[[object], str], unit: str = "cell", lines: bool = False,
                 quiet: bool = False):
        self.describe = describe
        self.lines = lines and not quiet
        self.tq = None
        if quiet or not sys.stderr.isatty():
            return
        try:
            from tqdm import tqdm
        except ImportError:
            return
        self.tq = tqdm(total=total, unit=unit, file=sys.stderr)

    def __call__(self, i: int, n: int, item) -> None:
        if self.tq is not None:
            self.tq.set_postfix_str(self.describe(item))
            self.tq.update(1)
        elif self.lines:
            print(f"[{i}/{n}] {self.describe(item)}", file=sys.stderr)

    def close(self) -> None:
        if self.tq is not None:
            self.tq.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
