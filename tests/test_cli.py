"""The ``xrfast`` command line: ``demo``, ``traces`` and ``analyze``, run in process through
``main([...])``.

The reference for what must be shown is the engine itself (``xrfast.read`` of the same fixture);
these tests check that the command shows all of it, exits with the documented codes (0 ok,
1 documents rejected, 2 usage or unreadable input) and keeps errors to one line.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from rich.console import Console

import xrfast
from xrfast import cli, render

FIXTURE = Path(__file__).parent / "fixtures" / "sdk" / "stream.ndjson"
BAD_DOCUMENT = b'{"id": "zz", "name": "bad", "trace_id": "1-6b069d72-022eb57325e61208007d02d6", "start_time": 1}'


@pytest.fixture(autouse=True)
def plain_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Output as when piped: no colors, 100 columns, whatever the environment of the test run."""
    for name in ("COLUMNS", "LINES", "FORCE_COLOR", "NO_COLOR", "TERM"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def expected() -> xrfast.TraceSet:
    return xrfast.read(FIXTURE)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------------------------
# xrfast demo


def test_demo_shows_every_trace_and_the_tree_of_a_faulty_one(
    capsys: pytest.CaptureFixture[str], expected: xrfast.TraceSet
) -> None:
    code, out, err = run(capsys, "demo")
    assert (code, err) == (0, "")
    assert "sdk-checkout.ndjson: 240 documents → 16 traces · 127.0 KiB assembled in" in out
    assert len(expected) == 16
    rows = [line for line in out.splitlines() if re.match(r"1-[0-9a-f]{8}-[0-9a-f]{24}  ", line)]
    assert [row.split()[0] for row in rows] == expected.ids
    for row, trace in zip(rows, expected):
        assert row.split()[1:4] == ["checkout-api", str(len(trace)), str(_subsegments(trace))]
    assert max(len(line) for line in out.splitlines()) <= 100

    # The tree is the first trace with a fault; every segment of it appears, marked.
    faulty = next(t for t in expected if t.root and t.root.get("fault"))
    assert f"Trace {faulty.id}" in out
    assert "the first trace with a fault" in out
    tree = out[out.index(f"Trace {faulty.id}") :].splitlines()
    for segment in faulty.segments:
        mark = "◌" if segment.get("inferred") else "●"
        assert any(f"{mark} {segment['name']}" in line for line in tree), segment["name"]
    assert "✖ PaymentGatewayError: charge for order-002 failed with HTTP 500" in out


def test_demo_tree_puts_each_downstream_segment_under_its_calling_subsegment(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, out, _ = run(capsys, "demo")
    lines = out[out.index("Trace 1-") :].splitlines()
    for service in ("order-service", "inventory-service"):
        call = next(
            i for i, line in enumerate(lines) if re.search(rf"── {service}  .*remote", line)
        )
        segment = next(i for i, line in enumerate(lines) if f"● {service}  " in line)
        between = lines[call + 1 : segment]
        assert all(line.lstrip(" │").startswith("✖") for line in between)  # only its exception
        assert _indent(lines[segment]) == _indent(lines[call]) + 4


def test_demo_json_is_the_batch_get_traces_shape(
    capsys: pytest.CaptureFixture[str], expected: xrfast.TraceSet
) -> None:
    code, out, err = run(capsys, "demo", "--json")
    assert (code, err) == (0, "")
    body = json.loads(out)
    assert [t["Id"] for t in body["Traces"]] == expected.ids
    assert body == expected.to_dict()


def test_demo_data_is_the_sdk_fixture() -> None:
    from importlib import resources

    shipped = resources.files("xrfast").joinpath(cli.DEMO_DATA).read_bytes()
    assert shipped == FIXTURE.read_bytes()


def test_python_dash_m_runs_the_demo() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "xrfast", "demo", "--no-color"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert "240 documents → 16 traces" in done.stdout
    assert "● checkout-api" in done.stdout
    assert "\x1b[" not in done.stdout


def test_demo_names_the_orders_that_vanished_and_the_services_they_missed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from xrfast.bench import workload

    _, truth = workload.generate_with_truth(workload.WorkloadConfig(**cli.DEMO_CHECKOUT))
    assert len(truth.vanished) >= 2
    code, out, err = run(capsys, "demo")
    assert (code, err) == (0, "")
    # The real SDK part comes first, the generated scenario after it.
    assert out.index("240 documents → 16 traces") < out.index("Scenario: checkout")
    scenario = out[out.index("Scenario: checkout") :]
    assert "Service map" in scenario
    for service in ("api-gateway", "order-service", "api.stripe.com", "notification-service"):
        assert service in scenario
    warning = f"⚠ {len(truth.vanished)} traces answered 2xx but never reached inventory-service,"
    assert warning in scenario
    named = [line.strip() for line in scenario[scenario.index(warning) :].splitlines()[3:]]
    assert named[: len(truth.vanished)] == sorted(truth.vanished)
    assert max(len(line) for line in out.splitlines()) <= 100


def test_demo_scenarios_one_at_a_time(capsys: pytest.CaptureFixture[str]) -> None:
    code, sdk, _ = run(capsys, "demo", "--scenario", "sdk")
    assert code == 0 and "240 documents" in sdk and "Scenario: checkout" not in sdk
    code, checkout, _ = run(capsys, "demo", "--scenario", "checkout")
    assert code == 0 and "240 documents" not in checkout and "Scenario: checkout" in checkout


# --------------------------------------------------------------------------------------------
# xrfast analyze


def test_analyze_shows_summaries_service_map_problem_traces_and_paths(
    capsys: pytest.CaptureFixture[str], expected: xrfast.TraceSet
) -> None:
    code, out, err = run(capsys, "analyze", str(FIXTURE))
    assert (code, err) == (0, "")
    assert "stream.ndjson: 240 documents → 16 traces" in out
    sections = ["Trace summaries", "Service map", "Problem traces (8)", "Paths"]
    assert [out.index(title) for title in sections] == sorted(out.index(t) for t in sections)
    table = out[out.index("Trace summaries") : out.index("Service map")]
    rows = [line.split() for line in table.splitlines() if re.match(r"1-[0-9a-f]{8}-", line)]
    summaries = expected.summaries()
    assert [row[0] for row in rows] == expected.ids
    for row, summary in zip(rows, summaries):
        assert row[1:4] == ["checkout-api", "POST", "/checkout"]
        assert row[4] == str(summary["Http"]["HttpStatus"])
    graph = out[out.index("Service map") : out.index("Problem traces")]
    for service in ("checkout-api", "order-service", "inventory-service", "api.stripe.com"):
        assert service in graph
    problems = out[out.index("Problem traces") : out.index("Paths")]
    flagged = [s["Id"] for s in summaries if s["HasFault"] or s["HasError"] or s["IsPartial"]]
    assert re.findall(r"^(1-\S+)", problems, re.MULTILINE) == flagged
    words = " ".join(problems.split())  # the message may wrap
    assert "api.stripe.com PaymentGatewayError: charge for order-002 failed with HTTP 500" in words
    paths = out[out.index("Paths") :]
    assert "POST /checkout → checkout-api · 16 traces" in paths
    assert "usual path: checkout-api → order-service" in paths
    assert max(len(line) for line in out.splitlines()) <= 100


def test_analyze_sections_can_be_chosen(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "analyze", str(FIXTURE), "--paths")
    assert "Paths" in out and "Trace summaries" not in out and "Service map" not in out
    _, out, _ = run(capsys, "analyze", str(FIXTURE), "--summaries", "--graph")
    assert "Trace summaries" in out and "Service map" in out and "Paths" not in out


def test_analyze_json_prints_x_rays_shapes_one_per_line(
    capsys: pytest.CaptureFixture[str], expected: xrfast.TraceSet
) -> None:
    from botocore_shapes import assert_valid_trace_summaries

    code, out, err = run(capsys, "analyze", str(FIXTURE), "--json")
    assert (code, err) == (0, "")
    documents = [json.loads(line) for line in out.splitlines()]
    summaries = documents[0]
    assert summaries == {"TraceSummaries": expected.summaries()}
    assert_valid_trace_summaries(summaries["TraceSummaries"])
    assert len(documents) == 3
    assert documents[1] == xrfast.analyze(expected).service_graph()
    assert [s["Name"] for s in documents[1]["Services"] if s.get("Root")] == ["checkout-api"]
    assert documents[-1] == expected.paths()
    # One section: one JSON document.
    code, out, _ = run(capsys, "analyze", str(FIXTURE), "--json", "--paths")
    assert json.loads(out) == expected.paths()


def test_analyze_finds_the_vanished_orders_of_a_generated_workload(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from xrfast.bench import workload

    config = workload.WorkloadConfig(traces=200, seed=11, vanish_rate=0.04, payload_bytes=(0, 0))
    docs, truth = workload.generate_with_truth(config)
    path = tmp_path / "checkout.ndjson.gz"
    path.write_bytes(gzip.compress(workload.to_ndjson(docs)))
    code, out, _ = run(capsys, "analyze", str(path), "--json", "--paths")
    assert code == 0
    report = json.loads(out)
    silent = [p for e in report["EntryPoints"] for p in e["Paths"] if p["Silent"]]
    assert sum(p["OkCount"] for p in silent) == len(truth.vanished)
    code, out, _ = run(capsys, "analyze", str(path), "--paths", "--limit", "0")
    assert f"⚠ {len(truth.vanished)} traces answered 2xx but never reached" in out


def test_analyze_time_window(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from xrfast.bench import workload

    config = workload.WorkloadConfig(traces=100, seed=3, concurrency=2, payload_bytes=(0, 0))
    data = workload.to_ndjson(workload.generate(config))
    path = tmp_path / "w.ndjson"
    path.write_bytes(data)
    starts = sorted(s["StartTime"] for s in xrfast.parse(data).summaries())
    start, end = starts[10], starts[60]
    code, out, _ = run(
        capsys,
        "analyze",
        str(path),
        "--json",
        "--summaries",
        "--start",
        str(start),
        "--end",
        str(end),
    )
    assert code == 0
    got = json.loads(out)["TraceSummaries"]
    assert sorted(s["StartTime"] for s in got) == [t for t in starts if start <= t < end]
    # ISO 8601 (UTC unless it says otherwise) and epoch seconds mean the same instant.
    iso = datetime.fromtimestamp(starts[50], tz=timezone.utc).isoformat()
    _, by_iso, _ = run(capsys, "analyze", str(path), "--json", "--summaries", "--start", iso)
    _, by_epoch, _ = run(
        capsys, "analyze", str(path), "--json", "--summaries", "--start", str(starts[50])
    )
    assert by_iso == by_epoch and len(json.loads(by_iso)["TraceSummaries"]) == 50
    code, out, _ = run(capsys, "analyze", str(path), "--start", str(end), "--end", str(start))
    assert code == 2


def test_analyze_exit_codes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.ndjson"
    bad.write_bytes(FIXTURE.read_bytes() + BAD_DOCUMENT + b"\n")
    code, out, err = run(capsys, "analyze", str(bad))
    assert code == 1
    assert "Rejected documents (1)" in out and "Paths" in out
    code, out, err = run(capsys, "analyze", str(bad), "--json")
    assert code == 1 and "InvalidId" in err and json.loads(out.splitlines()[0])
    code, _, err = run(capsys, "analyze", str(bad), "--on-error", "raise")
    assert code == 1 and err.count("\n") == 1
    code, _, err = run(capsys, "analyze", str(tmp_path / "missing.ndjson"))
    assert (
        code == 2 and err.startswith("xrfast analyze: error: cannot read") and err.count("\n") == 1
    )
    code, _, err = run(capsys, "analyze", str(FIXTURE), "--start", "yesterday")
    assert code == 2 and "expected epoch seconds or an ISO 8601 time" in err


def test_analyze_of_an_empty_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    empty = tmp_path / "empty.ndjson"
    empty.write_bytes(b"")
    code, out, err = run(capsys, "analyze", str(empty))
    assert (code, err) == (0, "")
    assert "0 documents → 0 traces" in out
    code, out, _ = run(capsys, "analyze", str(empty), "--json", "--paths")
    assert json.loads(out) == {"EntryPoints": [], "TracesProcessedCount": 0, "TracesWithoutRoot": 0}


def test_large_files_are_read_behind_a_progress_bar(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(cli, "LARGE_INPUT_BYTES", 1000)
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100)
    data = FIXTURE.read_bytes()
    path = tmp_path / "big.ndjson.gz"
    path.write_bytes(gzip.compress(data))
    assert cli.read_input(str(path), progress=console) == data
    assert "reading" in screen.getvalue()
    # Without a console, or for a small file, no bar.
    quiet = io.StringIO()
    monkeypatch.setattr(cli, "LARGE_INPUT_BYTES", 10**9)
    assert cli.read_input(str(path), progress=Console(file=quiet, force_terminal=True)) == data
    assert quiet.getvalue() == ""


# --------------------------------------------------------------------------------------------
# xrfast traces


def test_traces_lists_a_rejected_document_and_still_shows_the_rest(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("capture.ndjson").write_bytes(FIXTURE.read_bytes() + BAD_DOCUMENT + b"\n")
    code, out, err = run(capsys, "traces", "capture.ndjson")
    assert (code, err) == (1, "")
    assert out.startswith(
        "capture.ndjson: 241 documents → 16 traces (1 rejected) · 127.1 KiB assembled in "
    )
    assert "Rejected documents (1)" in out
    row = next(line for line in out.splitlines() if " zz " in line)
    assert row.split(None, 3) == [
        "240",
        "zz",
        "InvalidId",
        'id "zz" is not 16 lowercase hex digits (at byte 7)',
    ]
    assert len(re.findall(r"^1-[0-9a-f]{8}-", out, re.MULTILINE)) == 16


def test_traces_json_keeps_rejections_on_stderr(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "capture.ndjson"
    path.write_bytes(FIXTURE.read_bytes() + BAD_DOCUMENT + b"\n")
    code, out, err = run(capsys, "traces", str(path), "--json")
    assert code == 1
    assert len(json.loads(out)["Traces"]) == 16
    assert err == (
        f"xrfast: {path}: document 240 (id zz): Invalid segment. ErrorCode: InvalidId: "
        'id "zz" is not 16 lowercase hex digits (at byte 7)\n'
    )


def test_traces_on_error_raise_stops_with_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "capture.ndjson"
    path.write_bytes(FIXTURE.read_bytes() + BAD_DOCUMENT + b"\n")
    code, out, err = run(capsys, "traces", str(path), "--on-error", "raise")
    assert (code, out) == (1, "")
    assert err == (
        f"xrfast traces: rejected: {path}: document 240 (id zz): Invalid segment. ErrorCode: "
        'InvalidId: id "zz" is not 16 lowercase hex digits (at byte 7)\n'
    )


def test_traces_on_error_skip_hides_the_list_but_not_the_count(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "capture.ndjson"
    path.write_bytes(FIXTURE.read_bytes() + BAD_DOCUMENT + b"\n")
    code, out, _ = run(capsys, "traces", str(path), "--on-error", "skip")
    assert code == 1
    assert "(1 rejected)" in out
    assert "Rejected documents" not in out


def test_traces_reads_gzip(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, expected: xrfast.TraceSet
) -> None:
    path = tmp_path / "capture.ndjson.gz"
    path.write_bytes(gzip.compress(FIXTURE.read_bytes()))
    code, out, err = run(capsys, "traces", str(path), "--json")
    assert (code, err) == (0, "")
    assert json.loads(out) == expected.to_dict()


def test_traces_assembles_traces_spread_over_several_files(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, expected: xrfast.TraceSet
) -> None:
    lines = FIXTURE.read_bytes().splitlines(keepends=True)
    first, second = tmp_path / "a.ndjson", tmp_path / "b.ndjson.gz"
    first.write_bytes(b"".join(lines[:200]))
    second.write_bytes(gzip.compress(b"".join(lines[200:])))
    code, out, _ = run(capsys, "traces", str(first), str(second), "--json")
    assert code == 0
    assert json.loads(out) == expected.to_dict()


def test_traces_reads_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, expected: xrfast.TraceSet
) -> None:
    monkeypatch.setattr(
        sys, "stdin", io.TextIOWrapper(io.BytesIO(gzip.compress(FIXTURE.read_bytes())))
    )
    code, out, _ = run(capsys, "traces", "-", "--limit", "2")
    assert code == 0
    assert "<stdin>: 240 documents → 16 traces" in out
    assert "… and 14 more traces (--limit 0 shows all)" in out


def test_traces_of_an_empty_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("empty.ndjson").write_bytes(b"")
    code, out, err = run(capsys, "traces", "empty.ndjson")
    assert (code, err) == (0, "")
    assert re.fullmatch(
        r"empty.ndjson: 0 documents → 0 traces · 0 B assembled in \d+\.\d ms\n", out
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["traces", "{tmp}/missing.ndjson"],
            "xrfast traces: error: cannot read '{tmp}/missing.ndjson': No such file or directory",
        ),
        (["traces", "{tmp}"], "xrfast traces: error: cannot read '{tmp}': Is a directory"),
        (
            ["traces", "{fixture}", "--format", "yaml"],
            (
                "xrfast traces: error: argument --format: invalid choice: 'yaml' (choose from …auto…"
                "batch_get_traces…) (see 'xrfast traces --help')"
            ),
        ),
        (
            ["traces", "{fixture}", "--format", "put_trace_segments"],
            "xrfast traces: error: cannot read '{fixture}': the input has no \"TraceSegmentDocuments\" member",
        ),
        (
            ["traces", "{tmp}/bad.gz"],
            "xrfast traces: error: cannot read '{tmp}/bad.gz': not valid gzip (…)",
        ),
        (
            ["traces", "{fixture}", "--trace", "1-nope"],
            "xrfast traces: error: no trace '1-nope' in the input",
        ),
        (
            ["traces", "{fixture}", "--limit", "-1"],
            "xrfast traces: error: argument --limit: expected a whole number >= 0, not '-1' (see 'xrfast traces --help')",
        ),
        (
            ["traces"],
            "xrfast traces: error: the following arguments are required: FILE (see 'xrfast traces --help')",
        ),
        (
            ["frob"],
            (
                "xrfast: error: argument COMMAND: invalid choice: 'frob' (choose from …demo…traces…)"
                " (see 'xrfast --help')"
            ),
        ),
    ],
)
def test_usage_and_input_errors_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], message: str
) -> None:
    (tmp_path / "bad.gz").write_bytes(b"\x1f\x8bnot gzip at all")
    fill = {"tmp": str(tmp_path), "fixture": str(FIXTURE)}
    code, out, err = run(capsys, *(a.format(**fill) for a in argv))
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and err.endswith("\n")
    err = err[:-1]
    # "…" stands for text that varies: argparse quotes choices differently across Python versions,
    # and the gzip module's own words.
    parts = message.format(**fill).split("…")
    assert err.startswith(parts[0]) and err.endswith(parts[-1]), err
    assert all(part in err for part in parts[1:-1])
    assert len(parts) > 1 or err == parts[0]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--version") == (0, f"xrfast {xrfast.__version__}\n", "")


def test_format_choices_are_the_engines() -> None:
    with pytest.raises(ValueError, match="format must be one of") as raised:
        xrfast.parse(b"", format="?")  # type: ignore[arg-type]
    assert tuple(re.findall(r"'([a-z_]+)'", str(raised.value))) == cli.FORMATS


# --------------------------------------------------------------------------------------------
# xrfast.render on its own


def segment(
    id: str, name: str, start: float, parent: str | None = None, subsegments: tuple[str, ...] = ()
) -> bytes:
    doc: dict[str, object] = {
        "id": id,
        "name": name,
        "trace_id": TRACE_ID,
        "start_time": start,
        "end_time": start + 1,
        "subsegments": [
            {
                "id": sub,
                "name": f"call-{sub[-1]}",
                "start_time": start,
                "end_time": start + 1,
                "namespace": "remote",
            }
            for sub in subsegments
        ],
    }
    if parent:
        doc["parent_id"] = parent
    return json.dumps(doc).encode()


TRACE_ID = "1-5f84c7a5-0123456789abcdef01234567"


def render_text(renderable: object) -> str:
    console = Console(width=100, color_system=None, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def test_tree_shows_segments_that_call_each_other_in_a_cycle() -> None:
    # a's subsegment calls b, b's subsegment calls a: no root, nothing at the top of the path.
    docs = [
        segment(
            "000000000000000a",
            "alpha",
            1.0,
            parent="00000000000000b1",
            subsegments=("00000000000000a1",),
        ),
        segment(
            "000000000000000b",
            "beta",
            2.0,
            parent="00000000000000a1",
            subsegments=("00000000000000b1",),
        ),
    ]
    (trace,) = xrfast.parse(docs)
    assert trace.root_id is None
    text = render_text(render.trace_tree(trace))
    assert text.count("● alpha") == 1 and text.count("● beta") == 1
    assert text.index("● alpha") < text.index("call-1") < text.index("● beta")


def test_pick_trace_prefers_a_trace_with_segments() -> None:
    orphan = json.dumps(
        {
            "id": "00000000000000c1",
            "name": "x",
            "trace_id": "1-5f84c7a5-00000000000000000000000c",
            "start_time": 1.0,
            "end_time": 2.0,
            "type": "subsegment",
            "parent_id": "00000000000000cc",
            "fault": True,
        }
    ).encode()
    traces = xrfast.parse([orphan, segment("000000000000000a", "alpha", 1.0)])
    picked = render.pick_trace(traces)
    assert picked is not None
    assert (picked[0].id, picked[1]) == (TRACE_ID, "the largest trace")
    assert "no segments" in render_text(render.trace_tree(traces[0]))


def test_trace_rows_count_like_the_engine(expected: xrfast.TraceSet) -> None:
    rows = render.trace_rows(expected)
    assert [r.id for r in rows] == expected.ids
    assert [r.segments for r in rows] == [len(t) for t in expected]
    assert [r.subsegments for r in rows] == [_subsegments(t) for t in expected]
    assert {r.status for r in rows} == {201, 202, 429, 500}
    assert {r.flags for r in rows} == {(), ("error", "throttle"), ("fault",)}


def _subsegments(trace: xrfast.Trace) -> int:
    stack = list(trace.segments)
    count = -len(stack)
    while stack:
        count += 1
        stack.extend(stack.pop().get("subsegments", []))
    return count


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" │├└─"))
