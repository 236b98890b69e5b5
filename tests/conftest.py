"""Shared pytest configuration: a deterministic hypothesis profile and the shared corpora.

Builders for single documents live in `xray_documents.py` and the botocore shape checks in
`botocore_shapes.py` (plain modules, so table-driven tests can use them at import time).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

try:
    from hypothesis import settings
except ImportError:  # pragma: no cover - hypothesis is a test extra
    pass
else:
    # "ci" (the default) derives every example from the test itself, so a run is reproducible
    # and CI never flakes on a new random example; HYPOTHESIS_PROFILE=explore searches afresh.
    # No deadline: the first call of a test pays for numpy/orjson warm-up on a busy 2-core box.
    settings.register_profile("ci", derandomize=True, database=None, deadline=None)
    settings.register_profile("explore", deadline=None)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

SDK_FIXTURES = Path(__file__).parent / "fixtures" / "sdk"

#: A few traces with everything the generator can do: in-progress documents, duplicates,
#: streamed subsegments, vanished callees (traced calls left partial), errors and faults.
SMALL_WORKLOAD = {
    "traces": 12,
    "concurrency": 4,
    "seed": 11,
    "in_progress_rate": 0.3,
    "duplicate_rate": 0.2,
    "vanish_rate": 0.2,
    "fault_rate": 0.2,
    "error_rate": 0.2,
    "throttle_rate": 0.2,
    "stream_threshold": 2,
    "fanout": 2,
    "depth": 2,
    "payload_bytes": (0, 300),
}


@pytest.fixture(scope="session")
def small_workload() -> list[bytes]:
    """The documents of `SMALL_WORKLOAD`, in send order (traces interleaved)."""
    # Imported here, not at the top: importing `xrfast` needs the compiled extension, and the
    # tests of the pure-Python modules (test_reference.py, test_workload.py) run without it.
    from xrfast.bench import workload

    docs: list[bytes] = workload.generate(workload.WorkloadConfig(**SMALL_WORKLOAD))
    return docs


@pytest.fixture(scope="session")
def sdk_stream() -> Path:
    """Datagrams captured from the real AWS X-Ray SDK for Python, one per line (header line,
    then document), as the daemon receives them."""
    return SDK_FIXTURES / "stream.ndjson"
