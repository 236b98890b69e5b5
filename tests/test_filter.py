"""X-Ray filter expressions from Python: ``compile_filter``, ``Filter``, ``FilterExpressionError``,
``analyze(filter=)``, ``Analysis.time_series(entity_selector=)`` and ``xrfast analyze --filter``.

The traces are the SDK fixtures (captured from the real AWS X-Ray SDK for Python) and a small
generated workload. The oracle is a Python predicate over each trace's ``TraceSummary`` (made by
a different path through the engine): random expressions built by hypothesis must select exactly
the traces their Python twin selects.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import xrfast
from xrfast import cli

FIXTURE = Path(__file__).parent / "fixtures" / "sdk" / "stream.ndjson"
Summary = dict[str, Any]


@pytest.fixture(scope="module")
def sdk() -> xrfast.TraceSet:
    return xrfast.read(FIXTURE)


@pytest.fixture(scope="module")
def sdk_summaries(sdk: xrfast.TraceSet) -> list[Summary]:
    return sdk.summaries()


def _indices(summaries: list[Summary], predicate: Callable[[Summary], bool]) -> list[int]:
    return [i for i, s in enumerate(summaries) if predicate(s)]


# -- the API ------------------------------------------------------------------------------------


def test_a_filter_selects_matches_and_keeps_its_expression(
    sdk: xrfast.TraceSet, sdk_summaries: list[Summary]
) -> None:
    f = xrfast.compile_filter('service("api.stripe.com") { fault }')
    assert isinstance(f, xrfast.Filter)
    assert f.expression == 'service("api.stripe.com") { fault }'
    assert repr(f) == "Filter('service(\"api.stripe.com\") { fault }')"
    chosen = f.select(sdk)
    assert chosen.dtype == np.int64
    faults = _indices(sdk_summaries, lambda s: s["HasFault"])
    assert chosen.tolist() == faults == [2, 6, 10, 14]
    assert [f.matches(t) for t in sdk] == [i in faults for i in range(len(sdk))]
    assert f.select_ids(sdk) == [sdk[i].id for i in faults]
    assert f.filter(sdk).ids == [sdk[i].id for i in faults]
    assert xrfast.compile_filter("partial").select(sdk).tolist() == []


@pytest.mark.parametrize(
    ("expression", "predicate"),
    [
        ("fault", lambda s: s["HasFault"]),
        ("error", lambda s: s["HasError"]),
        ("throttle", lambda s: s["HasThrottle"]),
        ("ok", lambda s: not (s["HasFault"] or s["HasError"] or s["HasThrottle"])),
        ("http.status = 429", lambda s: s["Http"].get("HttpStatus") == 429),
        ("http.status != 201", lambda s: s["Http"].get("HttpStatus") != 201),
        ("responsetime > 0.1", lambda s: s["ResponseTime"] > 0.1),
        ("duration <= 0.005", lambda s: s["Duration"] <= 0.005),
        (
            'user = "customer-003"',
            lambda s: any(u["UserName"] == "customer-003" for u in s["Users"]),
        ),
        (
            'annotation.scenario = "stops_after_payment"',
            lambda s: any(
                v["AnnotationValue"].get("StringValue") == "stops_after_payment"
                for v in s["Annotations"].get("scenario", [])
            ),
        ),
        (
            'service(id(name: "fulfilment", type: "AWS::SQS::Queue"))',
            lambda s: any(x["Name"] == "fulfilment" for x in s["ServiceIds"]),
        ),
        (
            'rootcause.fault.exception { last and name = "PaymentGatewayError" }',
            lambda s: bool(s["FaultRootCauses"]),
        ),
        ('rootcause.error.service { last and name = "order-service" }', lambda s: s["HasError"]),
        (
            'edge("order-service", "api.stripe.com") { fault }',
            lambda s: s["HasFault"],
        ),
        ('http.url ENDSWITH "/checkout" AND http.method = "POST"', lambda s: True),
    ],
)
def test_sdk_traces_match_what_their_summaries_say(
    sdk: xrfast.TraceSet,
    sdk_summaries: list[Summary],
    expression: str,
    predicate: Callable[[Summary], bool],
) -> None:
    assert xrfast.compile_filter(expression).select(sdk).tolist() == _indices(
        sdk_summaries, predicate
    )


def test_an_analysis_can_be_selected_from_and_filtered(sdk: xrfast.TraceSet) -> None:
    everything = xrfast.analyze(sdk)
    f = xrfast.compile_filter("fault")
    assert f.select(everything).tolist() == f.select(sdk).tolist()
    faulty = xrfast.analyze(sdk, filter="fault")
    assert len(faulty) == 4
    assert faulty.filter is not None and faulty.filter.expression == "fault"
    assert faulty.traces.ids == f.select_ids(sdk)
    assert xrfast.analyze(sdk, filter=f).traces.ids == faulty.traces.ids
    # The graph holds only the matching traces: the root node counts 4 requests.
    root = next(
        s
        for s in faulty.service_graph()["Services"]
        if s["Name"] == "checkout-api" and s.get("Root")
    )
    assert root["SummaryStatistics"]["TotalCount"] == 4
    # Traces added later are filtered too; a merge keeps a filter both share.
    faulty.add(sdk)
    assert len(faulty) == 8
    assert faulty.merge(xrfast.analyze(sdk, filter="fault")).filter is not None
    assert faulty.merge(everything).filter is None
    assert xrfast.analyze(sdk, filter=None).filter is None
    with pytest.raises(ValueError, match="keep_traces=False"):
        f.select(xrfast.analyze(sdk, keep_traces=False))
    with pytest.raises(TypeError, match="expected a TraceSet or an Analysis, not list"):
        f.select([])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="filter must be a Filter or a filter expression"):
        xrfast.analyze(sdk, filter=5)  # type: ignore[arg-type]
    with pytest.raises(xrfast.FilterExpressionError):
        xrfast.analyze(sdk, filter="fault AND")


def test_time_series_take_an_entity_selector(sdk: xrfast.TraceSet) -> None:
    analysis = xrfast.analyze(sdk)
    by_dict = analysis.time_series(service={"Name": "order-service"})
    assert analysis.time_series(entity_selector='service("order-service")') == by_dict
    assert analysis.time_series(entity_selector='id(name: "order-service")') == by_dict
    edge = analysis.time_series(edge=({"Name": "checkout-api"}, {"Name": "order-service"}))
    assert analysis.time_series(entity_selector='edge("checkout-api", "order-service")') == edge
    # service("x") names every node called x: the DynamoDB table and nothing else here.
    table = analysis.time_series(entity_selector='service(id(type: "AWS::DynamoDB::Table"))')
    total = sum(
        b["ServiceSummaryStatistics"]["TotalCount"] for b in table["TimeSeriesServiceStatistics"]
    )
    assert total == 16 + 16  # `inventory` and `orders`, one request each per trace
    assert (
        analysis.time_series(entity_selector='service("nobody")')["TimeSeriesServiceStatistics"]
        == []
    )
    with pytest.raises(xrfast.FilterExpressionError, match="found `fault`"):
        analysis.time_series(entity_selector="fault")
    with pytest.raises(ValueError, match="give an entity_selector, or a service or an edge"):
        analysis.time_series(service={"Name": "a"}, entity_selector='service("a")')


# -- errors -------------------------------------------------------------------------------------


def test_a_malformed_expression_says_where_what_was_expected_and_what_was_found() -> None:
    with pytest.raises(xrfast.FilterExpressionError) as info:
        xrfast.compile_filter('user = "é" AND responsetime > abc')
    e = info.value
    assert isinstance(e, ValueError) and isinstance(e, xrfast.XRayError)
    assert str(e) == ("Invalid filter expression: expected a number at position 30, found `abc`")
    assert (e.position, e.expected, e.found) == (30, "a number", "`abc`")
    assert e.expression == 'user = "é" AND responsetime > abc'
    assert e.error_code == "InvalidRequestException"
    assert e.caret() == 'user = "é" AND responsetime > abc\n' + " " * 30 + "^"


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("", "expected a filter expression at position 0, found the end of the expression"),
        ("fault)", "expected `AND`, `OR` or the end of the expression at position 5, found `)`"),
        (
            'service("a") { partial }',
            (
                "expected one of ok, error, throttle, fault, inferred, root, responsetime,"
                " duration, http.status, http.url, http.method, http.useragent, http.clientip"
                " inside service(...) { } or edge(...) { } at position 15, found `partial`"
            ),
        ),
        (
            'group.name = "nope"',
            'expected the name of a known group at position 13, found the string "nope"',
        ),
    ],
)
def test_error_messages_are_whole_sentences(expression: str, message: str) -> None:
    with pytest.raises(xrfast.FilterExpressionError) as info:
        xrfast.compile_filter(expression)
    assert str(info.value) == f"Invalid filter expression: {message}"


def test_groups_are_resolved_at_compile_time(sdk: xrfast.TraceSet) -> None:
    groups = [
        {
            "GroupName": "slow",
            "GroupARN": "arn:aws:xray:us-east-1:1:group/slow/X",
            "FilterExpression": "responsetime > 0.1",
        },
        {"GroupName": "Default", "FilterExpression": None, "InsightsConfiguration": {}},
        {"GroupName": "a", "FilterExpression": 'group.name = "b"'},
        {"GroupName": "b", "FilterExpression": 'group.name = "a"'},
    ]
    slow_faults = xrfast.compile_filter('group.name = "slow" AND fault', groups=groups)
    assert slow_faults.select(sdk).tolist() == [2]
    by_arn = xrfast.compile_filter(
        'group.arn = "arn:aws:xray:us-east-1:1:group/slow/X"', groups=iter(groups)
    )
    assert by_arn.select(sdk).tolist() == [0, 1, 2, 3]
    assert len(xrfast.compile_filter('group.name = "Default"', groups=groups).select(sdk)) == 16
    with pytest.raises(xrfast.FilterExpressionError, match="found the cycle a → b → a"):
        xrfast.compile_filter('group.name = "a"', groups=groups)
    with pytest.raises(xrfast.FilterExpressionError, match="the name of a known group"):
        xrfast.compile_filter('group.name = "slow"')
    with pytest.raises(ValueError, match='a group needs a "GroupName"'):
        xrfast.compile_filter("ok", groups=[{"FilterExpression": "ok"}])  # type: ignore[typeddict-item]
    with pytest.raises(TypeError, match="a group is a dict"):
        xrfast.compile_filter("ok", groups=["slow"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match='a group\'s "FilterExpression" must be a string'):
        xrfast.compile_filter("ok", groups=[{"GroupName": "x", "FilterExpression": 5}])  # type: ignore[typeddict-item]


def test_length_and_predicates_are_bounded() -> None:
    with pytest.raises(xrfast.FilterExpressionError, match=r"at most 5 bytes \(max_length\)"):
        xrfast.compile_filter("fault OR ok", max_length=5)
    with pytest.raises(xrfast.FilterExpressionError, match=r"at most 2 predicates") as info:
        xrfast.compile_filter("ok fault error", max_predicates=2)
    assert info.value.position == 9
    groups = [{"GroupName": "g", "FilterExpression": "ok OR fault"}]
    with pytest.raises(xrfast.FilterExpressionError, match=r"at most 2 predicates") as info:
        xrfast.compile_filter('error OR group.name = "g"', groups=groups, max_predicates=2)
    assert info.value.position == 9  # at the reference, not inside the group


def test_nesting_is_bounded_by_max_depth() -> None:
    assert xrfast.compile_filter("((ok))", max_depth=2).expression == "((ok))"
    with pytest.raises(
        xrfast.FilterExpressionError, match=r"at most 2 levels of nesting \(max_depth\)"
    ):
        xrfast.compile_filter("(((ok)))", max_depth=2)
    with pytest.raises(xrfast.FilterExpressionError, match="levels of nesting"):
        xrfast.compile_filter("(" * 40_000 + "ok" + ")" * 40_000, max_depth=10**9)


@given(st.text(max_size=60))
def test_random_text_compiles_or_raises_a_filter_expression_error(text: str) -> None:
    try:
        xrfast.compile_filter(text)
    except xrfast.FilterExpressionError as e:
        assert 0 <= e.position <= len(text)


def test_filters_are_shared_between_threads(sdk: xrfast.TraceSet) -> None:
    f = xrfast.compile_filter('service() { fault } OR annotation.scenario = "throttled"')
    expected = f.select(sdk).tolist()
    results: list[list[int]] = []

    def work() -> None:
        for _ in range(20):
            results.append(f.select(sdk).tolist())

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 80


# -- random expressions against their Python twins ---------------------------------------------


def _annotation(s: Summary, key: str) -> list[Any]:
    return [next(iter(v["AnnotationValue"].values())) for v in s["Annotations"].get(key, [])]


def _rt(s: Summary) -> float | None:
    value: float | None = s.get("ResponseTime")
    return value


LEAVES: list[tuple[str, Callable[[Summary], bool]]] = [
    ("ok", lambda s: not (s["HasFault"] or s["HasError"] or s["HasThrottle"])),
    ("fault", lambda s: s["HasFault"]),
    ("error", lambda s: s["HasError"]),
    ("throttle", lambda s: s["HasThrottle"]),
    ("partial", lambda s: s["IsPartial"]),
    ("responsetime > 0.2", lambda s: (rt := _rt(s)) is not None and rt > 0.2),
    ("duration < 0.3", lambda s: s.get("Duration") is not None and s["Duration"] < 0.3),
    ("http.status >= 400", lambda s: s["Http"].get("HttpStatus", -1) >= 400),
    ("http.status = 200", lambda s: s["Http"].get("HttpStatus") == 200),
    ('http.url ENDSWITH "/checkout"', lambda s: s["Http"].get("HttpURL", "").endswith("/checkout")),
    ('user CONTAINS ""', lambda s: bool(s["Users"])),
    (
        'user BEGINSWITH "customer-00"',
        lambda s: any(u["UserName"].startswith("customer-00") for u in s["Users"]),
    ),
    ("annotation.order_id", lambda s: "order_id" in s["Annotations"]),
    ('annotation.scenario = "fault"', lambda s: "fault" in _annotation(s, "scenario")),
    (
        "annotation.cart_items > 3",
        lambda s: any(isinstance(v, float) and v > 3 for v in _annotation(s, "cart_items")),
    ),
    (
        'service("api.stripe.com")',
        lambda s: any(x["Name"] == "api.stripe.com" for x in s["ServiceIds"]),
    ),
    (
        'service("inventory-service")',
        lambda s: any(x["Name"] == "inventory-service" for x in s["ServiceIds"]),
    ),
    (
        'service(id(type: "AWS::SNS"))',
        lambda s: any(x.get("Type") == "AWS::SNS" for x in s["ServiceIds"]),
    ),
    (
        'rootcause.fault.service { name = "api.stripe.com" }',
        lambda s: any(
            x["Name"] == "api.stripe.com" for c in s["FaultRootCauses"] for x in c["Services"]
        ),
    ),
    (
        "rootcause.error.entity { first and remote }",
        lambda s: any(c["Services"][0]["EntityPath"][0]["Remote"] for c in s["ErrorRootCauses"]),
    ),
]

Node = tuple[str, Callable[[Summary], bool]]


def _not(node: Node) -> Node:
    text, f = node
    return f"!({text})", lambda s: not f(s)


def _and(a: Node, b: Node) -> Node:
    return f"({a[0]}) AND ({b[0]})", lambda s: a[1](s) and b[1](s)


def _adjacent(a: Node, b: Node) -> Node:
    return f"({a[0]}) ({b[0]})", lambda s: a[1](s) and b[1](s)


def _or(a: Node, b: Node) -> Node:
    return f"({a[0]}) or ({b[0]})", lambda s: a[1](s) or b[1](s)


expressions = st.recursive(
    st.sampled_from(LEAVES),
    lambda inner: st.one_of(
        inner.map(_not),
        st.tuples(inner, inner).map(lambda ab: _and(*ab)),
        st.tuples(inner, inner).map(lambda ab: _or(*ab)),
        st.tuples(inner, inner).map(lambda ab: _adjacent(*ab)),
    ),
    max_leaves=6,
)


@pytest.fixture(scope="module")
def corpus(
    sdk: xrfast.TraceSet, small_workload: list[bytes]
) -> tuple[list[xrfast.TraceSet], list[list[Summary]]]:
    sets = [sdk, xrfast.parse(b"\n".join(small_workload))]
    return sets, [s.summaries() for s in sets]


@given(expressions)
def test_random_expressions_select_what_their_python_twin_selects(
    corpus: tuple[list[xrfast.TraceSet], list[list[Summary]]], node: Node
) -> None:
    text, predicate = node
    f = xrfast.compile_filter(text)
    for traces, summaries in zip(*corpus):
        assert f.select(traces).tolist() == _indices(summaries, predicate), text


# -- the command line ---------------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_analyze_filter_end_to_end(
    capsys: pytest.CaptureFixture[str], sdk: xrfast.TraceSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("COLUMNS", "FORCE_COLOR", "NO_COLOR", "TERM"):
        monkeypatch.delenv(name, raising=False)
    expression = 'service("api.stripe.com") { fault }'
    faults = xrfast.compile_filter(expression).select_ids(sdk)
    code, out, err = run(
        capsys, "analyze", str(FIXTURE), "--filter", expression, "--json", "--summaries"
    )
    assert (code, err) == (0, "")
    assert [s["Id"] for s in json.loads(out)["TraceSummaries"]] == faults
    code, out, err = run(
        capsys, "analyze", str(FIXTURE), "--filter", expression, "--json", "--graph"
    )
    assert (code, err) == (0, "")
    assert json.loads(out) == xrfast.analyze(sdk, filter=expression).service_graph()
    code, out, err = run(capsys, "analyze", str(FIXTURE), "--filter", expression, "--summaries")
    assert (code, err) == (0, "")
    assert f"4 traces matching {expression}" in out
    shown = [line.split()[0] for line in out.splitlines() if line.startswith("1-")]
    assert sorted(set(shown)) == sorted(faults)


def test_cli_analyze_a_bad_filter_exits_2_with_a_caret(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "analyze", str(FIXTURE), "--filter", "responsetime > x")
    assert code == 2 and out == ""
    assert err == (
        "xrfast analyze: error: --filter: Invalid filter expression: expected a number at"
        " position 15, found `x`\n"
        "  responsetime > x\n"
        "                 ^\n"
    )
    # The filter is compiled before any file is read.
    code, _, err = run(capsys, "analyze", "/nonexistent/file", "--filter", "(")
    assert code == 2 and "--filter: Invalid filter expression" in err
