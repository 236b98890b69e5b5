"""``python -m xrfast.bench``: the same as ``xrfast bench``."""

from xrfast.bench.runner import main

raise SystemExit(main())
