"""`Trace.summary()`, `TraceSet.summaries()` and `summaries_json()`: X-Ray's `TraceSummary`.

Three layers: the engine against the pure-Python oracle (`xrfast.bench.summary_reference`, fed
by the pure-Python assembler) on real SDK output and generated workloads; hand-written cases for
every field and root-cause kind; and every summary checked against botocore's model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from botocore_shapes import assert_valid_trace_summaries
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_properties import AWS, DOCUMENTS, NAMES
from xray_documents import TRACE_ID, segment, sid, subsegment

import xrfast
from xrfast.bench import reference, summary_reference, workload

# --- the engine against the oracle -------------------------------------------------------------


def oracle(docs: list[bytes], engine: xrfast.TraceSet) -> dict[str, dict[str, Any]]:
    """The reference summary of every trace, keyed by id (revisions taken from the engine, which
    the reference assembler does not count)."""
    revisions = {trace.id: trace.revision for trace in engine}
    out = {}
    for trace in reference.assemble(docs):
        info = reference.trace_info(trace)
        out[trace["Id"]] = summary_reference.summarize(
            trace, root=info["root"], partial=info["partial"], revision=revisions[trace["Id"]]
        )
    return out


def assert_engine_matches_oracle(docs: list[bytes], engine: xrfast.TraceSet) -> None:
    expected = oracle(docs, engine)
    assert sorted(expected) == sorted(engine.ids)
    for trace in engine:
        got = trace.summary()
        for field, want in expected[trace.id].items():
            assert got.get(field) == want, (trace.id, field)
        assert set(got) == set(expected[trace.id]), trace.id
    assert_valid_trace_summaries(engine.summaries())


def sdk_documents(path: Path) -> list[bytes]:
    return [
        line
        for line in path.read_bytes().splitlines()
        if line.strip() and not line.startswith(b'{"format"')
    ]


def test_real_sdk_output_matches_the_reference(sdk_stream: Path) -> None:
    engine = xrfast.read(sdk_stream)
    assert_engine_matches_oracle(sdk_documents(sdk_stream), engine)
    summaries = engine.summaries()
    # The fixtures hold what the summary has to get right: faults whose culprit is an inferred
    # node with exceptions recorded on the calling subsegment, errors, throttles, remote nodes.
    faults = [c for s in summaries for c in s["FaultRootCauses"]]
    assert faults
    assert all(c["Services"][-1]["Inferred"] for c in faults)
    assert all(c["Services"][-1]["EntityPath"][-1]["Exceptions"] for c in faults)
    assert any(s["HasThrottle"] for s in summaries)
    assert any(s["ErrorRootCauses"] for s in summaries)
    types = {service.get("Type") for s in summaries for service in s["ServiceIds"]}
    assert {"remote", "AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::SNS"} <= types


@pytest.mark.parametrize(
    "config",
    [
        {"traces": 12, "seed": 11},
        {
            "traces": 150,
            "seed": 5,
            "fault_rate": 0.3,
            "error_rate": 0.3,
            "throttle_rate": 0.2,
            "in_progress_rate": 0.2,
            "duplicate_rate": 0.2,
            "vanish_rate": 0.1,
        },
    ],
    ids=["defaults", "many-failures"],
)
def test_generated_workloads_match_the_reference(config: dict[str, Any]) -> None:
    docs = workload.generate(workload.WorkloadConfig(**config))
    assert_engine_matches_oracle(docs, xrfast.parse(docs))


def test_the_small_workload_matches_the_reference(small_workload: list[bytes]) -> None:
    assert_engine_matches_oracle(small_workload, xrfast.parse(small_workload))


def test_summaries_and_summaries_json_agree_with_summary(small_workload: list[bytes]) -> None:
    traces = xrfast.parse(small_workload)
    each = [trace.summary() for trace in traces]
    assert traces.summaries() == each
    assert orjson.loads(traces.summaries_json()) == {"TraceSummaries": each}
    # Large sets are summarised in parallel; the order and content stay the same.
    many = xrfast.parse(workload.generate(workload.WorkloadConfig(traces=200, seed=3)))
    assert many.summaries() == [trace.summary() for trace in many]
    assert xrfast.parse(b"").summaries_json() == b'{"TraceSummaries":[]}'
    assert [orjson.loads(one) for one in many.summaries_json_list()] == many.summaries()
    assert b",".join(traces.summaries_json_list()) == traces.summaries_json()[19:-2]
    assert xrfast.parse(b"").summaries_json_list() == []


def test_an_analysis_keeps_the_summaries_it_made_with_the_graph() -> None:
    many = xrfast.parse(workload.generate(workload.WorkloadConfig(traces=200, seed=5)))
    analysis = xrfast.analyze(many)
    assert analysis.summaries() == many.summaries()
    assert analysis.summaries_json() == many.summaries_json()
    streamed = xrfast.analyze(b"")
    streamed.add(many)
    streamed.add(many)
    assert streamed.merge(analysis).summaries() == many.summaries() * 3
    with pytest.raises(ValueError, match=r"summaries_json\(\) needs the traces"):
        xrfast.analyze(many, keep_traces=False).summaries_json()


# --- hand-written cases ----------------------------------------------------------------------


def summarize(*docs: dict[str, Any]) -> dict[str, Any]:
    """The engine's summary of one trace made of `docs`, checked against the oracle and botocore."""
    raw = [orjson.dumps(doc) for doc in docs]
    traces = xrfast.parse(raw)
    assert len(traces) == 1
    assert_engine_matches_oracle(raw, traces)
    return traces[0].summary()


def service(name: str, kind: str | None = None, account: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"Name": name, "Names": [name]}
    if account is not None:
        out["AccountId"] = account
    if kind is not None:
        out["Type"] = kind
    return out


def test_a_bare_segment_has_every_member_with_empty_collections() -> None:
    assert summarize(segment(1, 10.0, 10.5, name="api")) == {
        "Id": TRACE_ID,
        "StartTime": 10.0,
        "Duration": 0.5,
        "ResponseTime": 0.5,
        "HasFault": False,
        "HasError": False,
        "HasThrottle": False,
        "IsPartial": False,
        "Http": {},
        "Annotations": {},
        "Users": [],
        "ServiceIds": [service("api")],
        "ResourceARNs": [],
        "InstanceIds": [],
        "AvailabilityZones": [],
        "EntryPoint": service("api"),
        "FaultRootCauses": [],
        "ErrorRootCauses": [],
        "ResponseTimeRootCauses": [
            {
                "Services": [
                    {
                        "Name": "api",
                        "Names": ["api"],
                        "EntityPath": [{"Name": "api", "Coverage": 1.0, "Remote": False}],
                        "Inferred": False,
                    }
                ],
                "ClientImpacting": True,
            }
        ],
        "Revision": 0,
    }


def test_times_are_doubles_and_unknown_ones_are_left_out() -> None:
    # Integer times in the documents still come out as doubles.
    s = summarize(
        segment(1, 10, 12),
        segment(2, 11, None, parent_id=sid(99)),
        segment(3, 11, 13, parent_id=sid(98)),
    )
    assert s["StartTime"] == 10.0 and isinstance(s["StartTime"], float)
    # Duration runs to the last end of any segment; ResponseTime is the root's own.
    assert s["Duration"] == 3.0 and s["ResponseTime"] == 2.0
    assert all(isinstance(s[k], float) for k in ("Duration", "ResponseTime"))
    assert s["IsPartial"] is True
    # Nothing finished: no Duration, no ResponseTime, no response-time root cause.
    s = summarize(segment(1, 10.0, None))
    assert "Duration" not in s and "ResponseTime" not in s
    assert s["StartTime"] == 10.0 and s["IsPartial"] is True
    assert s["ResponseTimeRootCauses"] == []


def test_a_trace_of_orphans_has_no_times_root_or_entry_point() -> None:
    s = summarize(subsegment(2, 1, 10.0, 11.0))
    assert "StartTime" not in s and "Duration" not in s and "EntryPoint" not in s
    assert s["ServiceIds"] == [] and s["IsPartial"] is True and s["Http"] == {}


def test_fault_and_error_come_from_the_root_throttle_from_any_segment() -> None:
    downstream = segment(2, 10.2, 10.4, parent_id=sid(3), fault=True, error=True, throttle=True)
    call = subsegment(3, None, 10.1, 10.5, name="svc2", namespace="remote")
    s = summarize(segment(1, 10.0, 11.0, subsegments=[call]), downstream)
    assert (s["HasFault"], s["HasError"], s["HasThrottle"]) == (False, False, True)
    s = summarize(segment(1, 10.0, 11.0, fault=True, error=True))
    assert (s["HasFault"], s["HasError"], s["HasThrottle"]) == (True, True, False)
    # An inferred segment carries its subsegment's throttle.
    call = subsegment(3, None, 10.1, 10.5, name="DynamoDB", namespace="aws", throttle=True)
    assert summarize(segment(1, 10.0, 11.0, subsegments=[call]))["HasThrottle"] is True


def test_http_comes_from_the_root_segment() -> None:
    http = {
        "request": {
            "method": "POST",
            "url": "https://shop.example.com/cart",
            "user_agent": "curl/8",
            "client_ip": "203.0.113.9",
            "x_forwarded_for": True,
        },
        "response": {"status": 502, "content_length": 12},
    }
    callee_http = {"request": {"url": "https://other"}, "response": {"status": 200}}
    s = summarize(
        segment(1, 10.0, 11.0, http=http),
        segment(2, 10.1, 10.2, parent_id=sid(77), http=callee_http),
    )
    assert s["Http"] == {
        "HttpURL": "https://shop.example.com/cart",
        "HttpStatus": 502,
        "HttpMethod": "POST",
        "UserAgent": "curl/8",
        "ClientIp": "203.0.113.9",
    }
    # Spec §10 Q23: a status sent as a string holding an integer counts; anything else does not.
    assert summarize(segment(1, http={"response": {"status": "404"}}))["Http"] == {
        "HttpStatus": 404
    }
    for status in ("", "4xx", 404.5, True, None):
        got = summarize(segment(1, http={"request": {"method": 7}, "response": {"status": status}}))
        assert got["Http"] == {}, status


def test_service_ids_follow_node_identity() -> None:
    aws = {"account_id": "123456789012", "ec2": {"instance_id": "i-1", "availability_zone": "b"}}
    subsegments = [
        subsegment(
            10, None, 10.1, 10.2, name="DynamoDB", namespace="aws", aws={"table_name": "orders"}
        ),
        subsegment(
            11,
            None,
            10.2,
            10.3,
            name="SQS",
            namespace="aws",
            aws={"queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/jobs"},
        ),
        subsegment(
            12,
            None,
            10.3,
            10.4,
            name="Lambda",
            namespace="aws",
            aws={"function_name": "resize", "account_id": "210987654321"},
        ),
        subsegment(13, None, 10.4, 10.5, name="s3", namespace="aws", aws={"bucket_name": "pics"}),
        subsegment(14, None, 10.5, 10.6, name="SNS", namespace="aws", aws={"operation": "Publish"}),
        subsegment(15, None, 10.6, 10.7, name="api.example.com", namespace="remote"),
        subsegment(16, None, 10.7, 10.8, name="DynamoDB", namespace="aws"),
        subsegment(17, None, 10.8, 10.9, name="local-work", namespace="local"),
        # A second call to the same table is the same node.
        subsegment(
            18, None, 10.85, 10.9, name="dynamodb", namespace="aws", aws={"table_name": "orders"}
        ),
    ]
    s = summarize(
        segment(1, 10.0, 11.0, name="api", origin="AWS::EC2::Instance", aws=aws,
                subsegments=subsegments),
    )  # fmt: skip
    api = service("api", "AWS::EC2::Instance", "123456789012")
    assert s["ServiceIds"] == [
        api,
        service("orders", "AWS::DynamoDB::Table"),
        service("jobs", "AWS::SQS::Queue"),
        service("resize", "AWS::Lambda::Function", "210987654321"),
        service("pics", "AWS::S3::Bucket"),
        service("SNS", "AWS::SNS"),
        service("api.example.com", "remote"),
        service("DynamoDB", "AWS::DynamoDB"),
    ]
    assert s["EntryPoint"] == api
    assert s["InstanceIds"] == [{"Id": "i-1"}]
    assert s["AvailabilityZones"] == [{"Name": "b"}]


def test_a_called_service_that_sends_segments_replaces_its_inferred_node() -> None:
    call = subsegment(3, None, 10.1, 10.5, name="orders", namespace="remote")
    s = summarize(
        segment(1, 10.0, 11.0, name="api", subsegments=[call]),
        segment(2, 10.2, 10.4, name="orders", origin="AWS::ECS::Container", parent_id=sid(3)),
    )
    assert s["ServiceIds"] == [service("api"), service("orders", "AWS::ECS::Container")]


def test_annotations_per_value_with_the_services_that_recorded_them() -> None:
    nested = subsegment(3, None, 10.1, 10.2, annotations={"tier": "gold", "n": 2, "ok": True})
    s = summarize(
        segment(1, 10.0, 11.0, name="api", annotations={"tier": "gold", "n": 2.0},
                subsegments=[nested]),
        segment(2, 10.5, 10.9, name="worker", parent_id=sid(99),
                annotations={"tier": "silver", "n": 2, "ok": False, "big": 1e300}),
    )  # fmt: skip
    api, worker = service("api"), service("worker")

    def value(kind: str, v: Any, *services: dict[str, Any]) -> dict[str, Any]:
        return {"AnnotationValue": {kind: v}, "ServiceIds": list(services)}

    assert s["Annotations"] == {
        "tier": [value("StringValue", "gold", api), value("StringValue", "silver", worker)],
        "n": [value("NumberValue", 2.0, api, worker)],
        "ok": [value("BooleanValue", True, api), value("BooleanValue", False, worker)],
        "big": [value("NumberValue", 1e300, worker)],
    }


def test_only_the_first_50_annotation_keys_are_indexed() -> None:
    first = {f"k{n:02d}": n for n in range(40)}
    later = {f"k{n:02d}": n for n in range(30, 70)}
    s = summarize(
        segment(1, 10.0, 11.0, annotations=first),
        segment(2, 10.5, 10.9, parent_id=sid(99), annotations=later),
    )
    assert list(s["Annotations"]) == [f"k{n:02d}" for n in range(50)]
    assert len(s["Annotations"]["k35"][0]["ServiceIds"]) == 2


def test_users_and_resource_arns_are_distinct_per_trace() -> None:
    arn = "arn:aws:lambda:us-east-1:123456789012:function:api"
    s = summarize(
        segment(1, 10.0, 11.0, name="api", user="ana", resource_arn=arn),
        segment(2, 10.2, 10.4, name="worker", parent_id=sid(98), user="ana", resource_arn=arn),
        segment(3, 10.3, 10.5, name="audit", parent_id=sid(99), user="bo"),
    )
    assert s["Users"] == [
        {"UserName": "ana", "ServiceIds": [service("api"), service("worker")]},
        {"UserName": "bo", "ServiceIds": [service("audit")]},
    ]
    assert s["ResourceARNs"] == [{"ARN": arn}]


def test_revision_counts_replaced_complete_documents() -> None:
    traces = xrfast.parse([orjson.dumps(segment(1)), orjson.dumps(segment(1, 10.0, 12.0))])
    assert traces[0].summary()["Revision"] == 1


def test_fault_root_cause_walks_to_the_culprit_with_its_exceptions() -> None:
    exception = {"id": "00000000000000e1", "type": "ValidationException", "message": "bad key"}
    ddb = subsegment(
        4, None, 10.2, 10.4, name="DynamoDB", namespace="aws", fault=True,
        aws={"table_name": "orders"}, cause={"exceptions": [exception, {"id": "00000000000000e2"}]},
    )  # fmt: skip
    handler = subsegment(3, None, 10.1, 10.6, name="handler", fault=True, subsegments=[ddb],
                         cause="00000000000000e1")  # fmt: skip
    ok = subsegment(5, None, 10.7, 10.8, name="cleanup")
    s = summarize(
        segment(1, 10.0, 11.0, name="api", fault=True, cause="00000000000000e1",
                subsegments=[handler, ok]),
    )  # fmt: skip
    assert s["FaultRootCauses"] == [
        {
            "Services": [
                {
                    "Name": "api",
                    "Names": ["api"],
                    "EntityPath": [
                        {"Name": "api", "Exceptions": [], "Remote": False},
                        {"Name": "handler", "Exceptions": [], "Remote": False},
                        {"Name": "DynamoDB", "Exceptions": [], "Remote": True},
                    ],
                    "Inferred": False,
                },
                {
                    "Name": "orders",
                    "Names": ["orders"],
                    "Type": "AWS::DynamoDB::Table",
                    "EntityPath": [
                        {
                            "Name": "DynamoDB",
                            "Exceptions": [
                                {"Name": "ValidationException", "Message": "bad key"},
                                {},
                            ],
                            "Remote": False,
                        }
                    ],
                    "Inferred": True,
                },
            ],
            "ClientImpacting": True,
        }
    ]
    assert s["ErrorRootCauses"] == []


def test_error_root_causes_follow_the_latest_ending_child_and_handled_ones_do_not_impact() -> None:
    early = subsegment(3, None, 10.1, 10.3, name="early", error=True)
    late = subsegment(4, None, 10.2, 10.5, name="late", error=True,
                      cause={"exceptions": [{"id": sid(5), "message": "nope"}]})  # fmt: skip
    s = summarize(segment(1, 10.0, 11.0, name="api", error=True, subsegments=[early, late]))
    [cause] = s["ErrorRootCauses"]
    assert [e["Name"] for e in cause["Services"][0]["EntityPath"]] == ["api", "late"]
    assert cause["Services"][0]["EntityPath"][-1]["Exceptions"] == [{"Message": "nope"}]
    assert cause["ClientImpacting"] is True
    # The root did not fail: each failing branch is its own root cause, not client impacting.
    s = summarize(segment(1, 10.0, 11.0, name="api", subsegments=[early, late]))
    paths = [[e["Name"] for e in c["Services"][0]["EntityPath"]] for c in s["ErrorRootCauses"]]
    assert paths == [["api", "early"], ["api", "late"]]
    assert not any(c["ClientImpacting"] for c in s["ErrorRootCauses"])


def test_response_time_root_cause_follows_the_child_that_took_most_of_the_time() -> None:
    slow_call = subsegment(3, None, 10.0, 10.8, name="orders", namespace="remote")
    quick = subsegment(4, None, 10.8, 10.9, name="render")
    s = summarize(
        segment(1, 10.0, 11.0, name="api", subsegments=[slow_call, quick]),
        segment(2, 10.1, 10.6, name="orders", parent_id=sid(3),
                subsegments=[subsegment(5, None, 10.1, 10.3, name="query")]),
    )  # fmt: skip
    [cause] = s["ResponseTimeRootCauses"]
    assert cause["ClientImpacting"] is True
    assert [
        (
            svc["Name"],
            [(e["Name"], round(e["Coverage"], 6), e["Remote"]) for e in svc["EntityPath"]],
        )
        for svc in cause["Services"]
    ] == [
        ("api", [("api", 1.0, False), ("orders", 0.8, True)]),
        # `query` took 0.2 s of the segment's 0.5 s: under half, so the walk stops here.
        ("orders", [("orders", 0.5, False)]),
    ]


def test_summary_is_valid_for_botocore_on_unusual_values() -> None:
    # Escapes, non-ASCII, control characters and huge numbers all survive into valid JSON.
    s = summarize(
        segment(1, 10.0, 11.0, name="api ü", user='a "quoted"\\ user\n',
                annotations={"s": "tab\there \u0001", "x": -0.0, "e": 1e-300},
                http={"request": {"url": "https://x/é?q=\"1\""}}),
    )  # fmt: skip
    assert s["Users"][0]["UserName"] == 'a "quoted"\\ user\n'
    assert s["Annotations"]["s"][0]["AnnotationValue"] == {"StringValue": "tab\there \u0001"}
    assert s["Http"]["HttpURL"] == 'https://x/é?q="1"'


# --- random trace shapes -----------------------------------------------------------------------

ANNOTATION_VALUES = st.sampled_from(["gold", "silver", 1, 2.0, -0.0, True, False, 1e300])


@st.composite
def with_summary_members(draw: st.DrawFn, doc: Any) -> Any:
    """`doc` (an entity, or an array of them) with annotations, users, origins, http and causes
    scattered over its entities. Causes are objects only: a reference may resolve to an orphan's
    exception, which the oracle (reading returned documents) cannot see; the SDK fixtures and the
    hand-written cases cover references."""
    stack = list(doc) if isinstance(doc, list) else [doc]
    while stack:
        entity = stack.pop()
        stack.extend(entity.get("subsegments", []))
        if draw(st.integers(0, 2)) == 0:
            keys = draw(st.lists(st.sampled_from(["a", "b", "c"]), max_size=3, unique=True))
            entity["annotations"] = {key: draw(ANNOTATION_VALUES) for key in keys}
        if draw(st.integers(0, 3)) == 0:
            entity["user"] = draw(st.sampled_from(["ana", "bo"]))
        if draw(st.integers(0, 3)) == 0:
            entity["origin"] = draw(st.sampled_from(["AWS::EC2::Instance", "AWS::ECS::Container"]))
        if draw(st.integers(0, 3)) == 0:
            entity["aws"] = {**entity.get("aws", {}), "account_id": "123456789012"}
        if draw(st.integers(0, 3)) == 0:
            status = draw(st.sampled_from([200, 404, "503", 500.0, ""]))
            entity["http"] = {"request": {"url": "https://x/", "method": "GET"},
                              "response": {"status": status}}  # fmt: skip
        # Durations on both sides of half of each other, for the response-time walk.
        if "end_time" in entity:
            duration = draw(st.sampled_from([0.0, 0.1, 0.45, 0.5, 0.9, 1.0, 2.0]))
            entity["end_time"] = entity["start_time"] + duration
        # Flags often, so that walks meet several flagged children (the generator of shapes
        # sets them rarely).
        for flag in ("fault", "error"):
            if draw(st.booleans()):
                entity[flag] = True
        if draw(st.integers(0, 3)) == 0:
            message = draw(st.sampled_from(["boom", "bad"]))
            entity["cause"] = {"exceptions": [{"id": sid(99), "type": "E", "message": message}]}
    return doc


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(docs=st.lists(DOCUMENTS.flatmap(with_summary_members), min_size=1, max_size=10))
def test_the_engine_matches_the_reference_on_random_trace_shapes(docs: list[Any]) -> None:
    raw = [orjson.dumps(doc) for doc in docs]
    engine = xrfast.parse(raw, format="document", on_error="collect")
    assert engine.errors == []
    assert_engine_matches_oracle(raw, engine)


@st.composite
def call_trees(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A root segment with a tree of nested subsegments, plus downstream segments (with trees of
    their own) called by some of those subsegments, in random order: unique ids, so that walks
    go deep, with random flags, durations, namespaces, resources, annotations, users and causes."""
    ids = iter(range(1, 1000))
    callers: list[str] = []

    def entity(start: float, depth: int, **top: Any) -> dict[str, Any]:
        doc: dict[str, Any] = {"id": sid(next(ids)), "name": draw(NAMES), "start_time": start}
        if draw(st.integers(0, 9)) == 0:
            doc["in_progress"] = True
        else:
            doc["end_time"] = start + draw(st.sampled_from([0.0, 0.1, 0.45, 0.5, 0.9, 1.0, 2.0]))
        doc.update(top)
        if not top:
            callers.append(doc["id"])
            namespace = draw(st.sampled_from([None, "aws", "remote", "local"]))
            if namespace is not None:
                doc["namespace"] = namespace
            aws = draw(AWS)
            if aws is not None:
                doc["aws"] = dict(aws)
        if depth < 3:
            kids = draw(st.integers(0, 3 - depth))
            offsets = st.sampled_from([0.0, 0.05, 0.1])
            doc["subsegments"] = [entity(start + draw(offsets), depth + 1) for _ in range(kids)]
        return doc

    docs = [entity(10.0, 0, trace_id=TRACE_ID)]
    for _ in range(draw(st.integers(0, 3))):
        if not callers:
            break
        caller = draw(st.sampled_from(callers))
        start = 10.0 + draw(st.sampled_from([0.0, 0.1, 0.2]))
        docs.append(entity(start, 1, trace_id=TRACE_ID, parent_id=caller))
    for doc in docs:
        draw(with_summary_members(doc))
    return draw(st.permutations(docs))


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(docs=call_trees(), data=st.data())
def test_the_engine_matches_the_reference_on_deep_call_trees(docs: list[Any], data: Any) -> None:
    raw = [orjson.dumps(doc) for doc in docs]
    engine = xrfast.parse(raw, format="document", on_error="collect")
    assert engine.errors == []
    assert_engine_matches_oracle(raw, engine)
    # Summaries do not depend on arrival order.
    shuffled = data.draw(st.permutations(raw), label="arrival order")
    assert xrfast.parse(shuffled, format="document").summaries() == engine.summaries()
