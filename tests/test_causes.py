"""Cause references (spec §1.7): a `cause` string names an exception recorded elsewhere."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

import xrfast

SDK_STREAM = Path(__file__).parent / "fixtures" / "sdk" / "stream.ndjson"
TRACE_ID = "1-581cf771-a006649127e371903a2de979"


def entities(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    stack = [document]
    while stack:
        entity = stack.pop()
        stack.extend(entity.get("subsegments", []))
        yield entity


def test_every_reference_in_real_sdk_output_resolves_to_the_recording_cause() -> None:
    resolved = 0
    for trace in xrfast.read(SDK_STREAM):
        for segment in trace.segments:
            for entity in entities(segment):
                if isinstance(entity.get("cause"), str):
                    cause = trace.cause(entity["id"])
                    assert cause is not None
                    assert entity["cause"] in [e["id"] for e in cause["exceptions"]]
                    resolved += 1
    assert resolved >= 10


def test_an_object_cause_is_returned_as_is_and_a_missing_one_is_none() -> None:
    recorded = {
        "working_directory": "/app",
        "exceptions": [{"id": "00000000000000e1", "message": "boom"}],
    }
    segment = {
        "id": "0000000000000001",
        "name": "api",
        "trace_id": TRACE_ID,
        "start_time": 1.0,
        "end_time": 2.0,
        "fault": True,
        "cause": "00000000000000e1",
        "subsegments": [
            {
                "id": "0000000000000002",
                "name": "work",
                "start_time": 1.1,
                "end_time": 1.9,
                "cause": recorded,
            },
            {"id": "0000000000000003", "name": "other", "start_time": 1.2, "end_time": 1.3},
        ],
    }
    trace = xrfast.parse(orjson.dumps(segment))[0]
    assert trace.cause("0000000000000002") == recorded
    assert trace.cause("0000000000000001") == recorded
    assert trace.cause("0000000000000003") is None
    assert trace.cause("00000000000000ff") is None
    with pytest.raises(ValueError, match='"zz" is not a 16-hex-digit segment id'):
        trace.cause("zz")
