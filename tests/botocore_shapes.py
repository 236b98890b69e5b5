"""Checks that what xrfast returns is exactly what an AWS client accepts, using botocore's own
model of the X-Ray API (the `service-2.json` shipped with botocore, spec tag [BC]).

Three layers, each catching what the previous cannot: the members and their Python types per
shape; botocore's request/response validator (unknown members, wrong types, lengths); and
botocore's rest-json parser reading the value back as an HTTP body, which must give back exactly
what was produced.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import botocore.loaders
import botocore.model
import botocore.parsers
import botocore.validate
import pytest

# botocore type names -> the Python types a parsed JSON body holds for them.
PYTHON_TYPES = {"string": str, "double": float, "boolean": bool, "list": list}


@functools.cache
def xray_service_model() -> botocore.model.ServiceModel:
    return botocore.model.ServiceModel(
        botocore.loaders.Loader().load_service_model("xray", "service-2")
    )


def assert_members_match(value: dict[str, Any], shape_name: str, *, required: set[str]) -> None:
    """`value` has every member in `required`, no member the shape lacks, and each member has the
    Python type of its botocore type."""
    members = xray_service_model().shape_for(shape_name).members
    assert required <= set(value) <= set(members), (shape_name, sorted(value))
    for name, item in value.items():
        assert isinstance(item, PYTHON_TYPES[members[name].type_name]), (shape_name, name)


def assert_valid_response(operation: str, response: dict[str, Any]) -> None:
    """`response` validates against the output shape of `operation` and survives a round trip
    through botocore's rest-json response parser unchanged."""
    output_shape = xray_service_model().operation_model(operation).output_shape
    report = botocore.validate.ParamValidator().validate(response, output_shape)
    assert not report.has_errors(), report.generate_report()
    parsed = botocore.parsers.create_parser("rest-json").parse(
        {"status_code": 200, "headers": {}, "body": json.dumps(response).encode()}, output_shape
    )
    parsed.pop("ResponseMetadata")
    assert parsed == response


def assert_valid_batch_get_traces(traces: list[dict[str, Any]]) -> None:
    """`traces` (``Trace.to_dict()`` values) form a valid ``BatchGetTraces`` response."""
    for trace in traces:
        # xrfast always writes all four members, although the model makes none of them required.
        assert_members_match(
            trace, "Trace", required={"Id", "Duration", "LimitExceeded", "Segments"}
        )
        for segment in trace["Segments"]:
            assert_members_match(segment, "Segment", required={"Id", "Document"})
    assert_valid_response("BatchGetTraces", {"Traces": traces, "UnprocessedTraceIds": []})


def assert_valid_put_trace_segments_result(unprocessed: list[dict[str, Any]]) -> None:
    """`unprocessed` (``UnprocessedTraceSegment.to_dict()`` values) form a valid
    ``PutTraceSegments`` response."""
    for item in unprocessed:
        assert_members_match(item, "UnprocessedTraceSegment", required={"ErrorCode", "Message"})
    assert_valid_response("PutTraceSegments", {"UnprocessedTraceSegments": unprocessed})


# What a JSON body holds for each botocore type. X-Ray's doubles and timestamps are written as
# JSON floats (`4.0`, never `4`), so they must load as `float`; a `bool` is never an integer.
JSON_TYPES: dict[str, type] = {
    "string": str,
    "double": float,
    "timestamp": float,
    "boolean": bool,
    "integer": int,
    "long": int,
    "list": list,
    "map": dict,
    "structure": dict,
}


def assert_shape(value: Any, shape: botocore.model.Shape, path: str = "") -> None:
    """`value`, as loaded from JSON, has exactly the JSON types of `shape`, recursively: no
    member the model lacks, doubles as floats, integers as ints."""
    expected = JSON_TYPES[shape.type_name]
    assert isinstance(value, expected), (path, shape.name, value)
    assert not (expected is int and isinstance(value, bool)), (path, value)
    if isinstance(shape, botocore.model.StructureShape):
        assert set(value) <= set(shape.members), (path, sorted(set(value) - set(shape.members)))
        for name, item in value.items():
            assert_shape(item, shape.members[name], f"{path}.{name}")
    elif isinstance(shape, botocore.model.ListShape):
        for n, item in enumerate(value):
            assert_shape(item, shape.member, f"{path}[{n}]")
    elif isinstance(shape, botocore.model.MapShape):
        for key, item in value.items():
            assert_shape(key, shape.key, f"{path}.<key>")
            assert_shape(item, shape.value, f"{path}[{key!r}]")


def assert_valid_trace_summaries(summaries: list[dict[str, Any]]) -> None:
    """`summaries` (``Trace.summary()`` values) are ``TraceSummary`` values of exactly the
    model's types, and ``{"TraceSummaries": summaries}`` is a valid ``GetTraceSummaries``
    response that botocore's parser reads back unchanged (timestamps become datetimes there)."""
    model = xray_service_model()
    for summary in summaries:
        assert_shape(summary, model.shape_for("TraceSummary"), "TraceSummary")
    output_shape = model.operation_model("GetTraceSummaries").output_shape
    response = {"TraceSummaries": summaries}
    report = botocore.validate.ParamValidator().validate(response, output_shape)
    assert not report.has_errors(), report.generate_report()
    parsed = botocore.parsers.create_parser("rest-json").parse(
        {"status_code": 200, "headers": {}, "body": json.dumps(response).encode()}, output_shape
    )
    assert len(parsed["TraceSummaries"]) == len(summaries)
    for back, summary in zip(parsed["TraceSummaries"], summaries):
        back = dict(back)
        if "StartTime" in summary:
            assert back.pop("StartTime").timestamp() == pytest.approx(
                summary["StartTime"], abs=1e-6
            )
        assert back == {k: v for k, v in summary.items() if k != "StartTime"}


def _same_after_parse(back: Any, sent: Any, path: str = "") -> None:
    """botocore's parser gives timestamps back as datetimes; everything else must be equal."""
    if hasattr(back, "timestamp") and not isinstance(back, (int, float)):
        assert back.timestamp() == pytest.approx(sent, abs=1e-6), path
    elif isinstance(sent, dict):
        assert isinstance(back, dict) and set(back) == set(sent), (path, back, sent)
        for key in sent:
            _same_after_parse(back[key], sent[key], f"{path}.{key}")
    elif isinstance(sent, list):
        assert isinstance(back, list) and len(back) == len(sent), path
        for n, (b, s) in enumerate(zip(back, sent)):
            _same_after_parse(b, s, f"{path}[{n}]")
    else:
        assert back == sent, (path, back, sent)


def assert_valid_output(operation: str, response: dict[str, Any]) -> None:
    """`response` has exactly the JSON types of `operation`'s output shape (no member the model
    lacks), passes botocore's validator, and botocore's rest-json parser reads it back to the
    same values (timestamps as datetimes)."""
    output_shape = xray_service_model().operation_model(operation).output_shape
    assert_shape(response, output_shape, operation)
    report = botocore.validate.ParamValidator().validate(response, output_shape)
    assert not report.has_errors(), report.generate_report()
    parsed = botocore.parsers.create_parser("rest-json").parse(
        {"status_code": 200, "headers": {}, "body": json.dumps(response).encode()}, output_shape
    )
    parsed.pop("ResponseMetadata")
    _same_after_parse(parsed, response, operation)
