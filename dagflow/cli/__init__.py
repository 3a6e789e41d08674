"""The ``dagflow`` command line: one module per noun, each a thin layer over ``dagflow.services``.

Nothing imports this package. Errors reach the user as one line on stderr with an exit
code (2 for bad arguments, 1 otherwise); set ``DAGFLOW_DEBUG=1`` to see tracebacks.
"""

from __future__ import annotations

from dagflow.cli.main import main

__all__ = ["main"]
