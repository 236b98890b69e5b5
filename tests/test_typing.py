"""The hand-written stubs (`python/xrfast/_core.pyi`) stay true to the compiled module and useful
to callers. This is how CI keeps them honest: a stub that drifts from the extension fails here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "python" / "xrfast"
ALLOWLIST = ROOT / "stubtest-allowlist.txt"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if any(PACKAGE.glob("_core.*.so")) or any(PACKAGE.glob("_core.*.pyd")):
        # An editable build of this tree: check its extension against its stubs, even when the
        # interpreter's editable install currently points at another checkout.
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(PACKAGE.parent), env.get("PYTHONPATH")])
        )
    return subprocess.run(
        [sys.executable, "-m", *args],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_stubs_match_the_compiled_module():
    result = run("mypy.stubtest", "xrfast._core", "--allowlist", str(ALLOWLIST))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_allowlist_holds_exactly_what_stubtest_cannot_check():
    # Also proves the stubs were found at all: without them stubtest checks nothing and passes.
    result = run("mypy.stubtest", "xrfast._core", "--generate-allowlist")
    needed = set(result.stdout.split())
    listed = {
        line.strip()
        for line in ALLOWLIST.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert needed == listed == {"xrfast._core.Format", "xrfast._core.OnError"}


def test_the_public_package_type_checks_strictly():
    files = [str(PACKAGE / name) for name in ("__init__.py", "exceptions.py", "_core.pyi")]
    result = run("mypy", "--strict", *files)
    assert result.returncode == 0, result.stdout + result.stderr


# What a caller writes: every line must type-check, so the stubs accept what the API accepts.
CORRECT_USE = """
    from pathlib import Path

    import numpy as np
    import numpy.typing as npt
    import xrfast
    from xrfast._core import Format, OnError

    docs: list[bytes] = [b"{}"]
    traces: xrfast.TraceSet = xrfast.parse(docs, format="document", on_error="collect")
    xrfast.parse((b"{}", "{}", bytearray(b"{}"), memoryview(b"{}")))
    xrfast.read(Path("segments.ndjson.gz"), chunk_size=1 << 16, max_depth=8)
    fmt: Format = "ndjson"
    policy: OnError = "skip"
    assembler = xrfast.TraceAssembler(idle_timeout=1.0, max_open_traces=10)
    rejected: list[xrfast.UnprocessedTraceSegment] = assembler.add(
        "{}", now=0.0, format=fmt, on_error=policy
    )
    evicted: int = assembler.stats["traces_evicted"]
    for trace in assembler.pop_complete(now=5.0):
        document: str = trace.to_dict()["Segments"][0]["Document"]
        ids: npt.NDArray[np.uint64] = trace.columns()["id"]
        root_id: str | None = trace.root_id
        has_fault: bool = trace.summary()["HasFault"]
        entry: str = trace.summary()["EntryPoint"]["Name"]
    summaries: bytes = assembler.flush().summaries_json()
    analysis: xrfast.Analysis = xrfast.analyze(traces, start=0.0, end=60.0)
    analysis.add(assembler.flush())
    p99: float | None = analysis.merge(analysis).percentiles()["edges"][0]["p99"]
    node = analysis.service_graph()["Services"][0]
    total: int = node["Edges"][0]["SummaryStatistics"]["TotalCount"]
    series = analysis.time_series(300, service=node)["TimeSeriesServiceStatistics"]
    graph: bytes = analysis.service_graph_json()
    slow = xrfast.compile_filter(
        'group.name = "slow" AND service("api") { fault }',
        groups=[{"GroupName": "slow", "FilterExpression": "responsetime > 2"}],
    )
    chosen: npt.NDArray[np.int64] = slow.select(traces)
    matched: bool = slow.matches(traces[0]) and slow.select_ids(analysis) == []
    faulty: xrfast.Analysis = xrfast.analyze(traces, filter=slow)
    expression: str | None = faulty.filter.expression if faulty.filter else None
    series = analysis.time_series(entity_selector='service("api")')["TimeSeriesServiceStatistics"]
    try:
        xrfast.compile_filter("responsetime >")
    except xrfast.FilterExpressionError as bad:
        located: tuple[int, str, str, str] = (bad.position, bad.expected, bad.found, bad.caret())
    code: str = rejected[0].to_dict()["ErrorCode"]
    try:
        xrfast.parse("{")
    except xrfast.SegmentDecodeError as error:
        where: tuple[str, int, int | None] = (error.doc, error.pos, error.offset)
"""

# Mistakes the stubs must catch, each with (part of) the error mypy reports on its line.
MISTAKES = {
    'xrfast.parse("", format="xml")': 'Argument "format" to "parse" has incompatible type '
    "\"Literal['xml']\"",
    'xrfast.parse("", on_error="ignore")': 'Argument "on_error" to "parse" has incompatible type '
    "\"Literal['ignore']\"",
    'xrfast.parse("", "document")': 'Too many positional arguments for "parse"',
    "xrfast.parse(5)": 'Argument 1 to "parse" has incompatible type "int"',
    "xrfast.TraceAssembler(5.0)": 'Too many positional arguments for "TraceAssembler"',
    "xrfast.parse('')[0].duration + ''": 'Unsupported operand types for + ("float" and "str")',
    "xrfast.parse('').to_dict()['Traces'][0]['Id'] + 1": 'Unsupported operand types for + ("str" '
    'and "int")',
    "xrfast.TraceAssembler().stats['evicted']": '"AssemblerStats" has no key "evicted"',
    "xrfast.analyze('').time_series(120)": 'Argument 1 to "time_series" of "Analysis" has '
    'incompatible type "Literal[120]"',
    "xrfast.compile_filter('ok', groups=[{'Name': 'g'}])": 'Extra key "Name" for TypedDict',
    "xrfast.compile_filter('ok').select([])": 'Argument 1 to "select" of "Filter" has '
    "incompatible type",
}


def test_callers_type_check_and_their_mistakes_are_caught(tmp_path):
    good = tmp_path / "correct_use.py"
    good.write_text(textwrap.dedent(CORRECT_USE))
    result = run("mypy", "--strict", str(good))
    assert result.returncode == 0, result.stdout + result.stderr

    bad = tmp_path / "mistakes.py"
    bad.write_text("import xrfast\n" + "".join(f"{line}\n" for line in MISTAKES))
    result = run("mypy", "--strict", "--no-pretty", "--hide-error-context", str(bad))
    reported = {
        int(line.split(":")[1]): line for line in result.stdout.splitlines() if ": error: " in line
    }
    for number, (line, message) in enumerate(MISTAKES.items(), start=2):
        assert message in reported.get(number, ""), (line, result.stdout)
