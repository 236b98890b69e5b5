"""``python -m xrfast``: the ``xrfast`` command line."""

from xrfast.cli import main

raise SystemExit(main())
