"""Sub-commands of the ``hemtools`` CLI, one module each.

A command module defines ``NAME``, ``HELP``, ``ORDER`` (position in ``--help``), ``add_arguments(parser)``
and ``run(args) -> int``.  Modules are discovered, not listed, so adding a command is adding a file.
They import only the standard library at module level: heavy imports (torch, matplotlib, sympy) go
inside ``run`` so that ``hemtools --help`` stays instant.
"""
