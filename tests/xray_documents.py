"""Small, valid X-Ray segment documents for tests, built member by member so a test shows only
what it is about.

Ids are readable (`sid(3)` is ``"0000000000000003"``) and every document belongs to `TRACE_ID`
unless told otherwise. Member order follows what SDKs send (id, name, start_time, end_time or
in_progress, trace_id, then the rest), which matters where a test checks that order is kept.
"""

from __future__ import annotations

import json
from typing import Any

TRACE_ID = "1-5759e988-bd862e3fe1be46a994272793"
OTHER_TRACE_ID = "1-5759e988-000000000000000000000002"

#: The header the Python SDK writes before every datagram (spec §2.2).
DAEMON_HEADER = '{"format":"json","version":1}'

Doc = dict[str, Any]


def sid(n: int) -> str:
    """A readable 16-hex-digit id."""
    return f"{n:016x}"


def trace_id(n: int) -> str:
    """The n-th of many distinct trace ids."""
    return f"1-5759e988-{n:024x}"


def _times(doc: Doc, start: float, end: float | None) -> None:
    doc["start_time"] = start
    if end is None:
        doc["in_progress"] = True
    else:
        doc["end_time"] = end


def segment(
    n: int, start: float = 10.0, end: float | None = 11.0, *, trace: str = TRACE_ID, **members: Any
) -> Doc:
    """A segment; in progress when `end` is None. `members` come after `trace_id`."""
    doc: Doc = {"id": sid(n), "name": members.pop("name", f"svc{n}")}
    _times(doc, start, end)
    doc["trace_id"] = trace
    doc.update(members)
    return doc


def subsegment(
    n: int,
    parent: int | None,
    start: float,
    end: float | None,
    *,
    trace: str = TRACE_ID,
    **members: Any,
) -> Doc:
    """An independent subsegment of `parent` (with ``type``, ``trace_id``, ``parent_id``), or,
    when `parent` is None, one to nest in another object's ``subsegments``."""
    doc: Doc = {"id": sid(n), "name": members.pop("name", f"sub{n}")}
    _times(doc, start, end)
    if parent is not None:
        doc["type"] = "subsegment"
        doc["trace_id"] = trace
        doc["parent_id"] = sid(parent)
    doc.update(members)
    return doc


def dumps(doc: Any) -> str:
    """Compact JSON, as SDKs send it."""
    return json.dumps(doc, separators=(",", ":"))


def datagram(doc: Doc) -> str:
    """`doc` framed as a UDP datagram to the daemon."""
    return DAEMON_HEADER + "\n" + dumps(doc)
