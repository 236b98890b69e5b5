"""The ``xrfast`` command line (grows with each stage)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``xrfast`` command."""
    del argv
    print("xrfast: command line not built yet", file=sys.stderr)
    return 2
