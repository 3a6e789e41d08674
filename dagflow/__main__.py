"""``python -m dagflow``: the same as the ``dagflow`` command."""

from __future__ import annotations

import sys

from dagflow.cli import main

sys.exit(main())
