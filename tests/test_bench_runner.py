"""The benchmark runner: it measures every job, writes its reports, and refuses wrong answers."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from rich.console import Console

import xrfast
from xrfast.bench import runner


def test_a_quick_run_measures_every_job_and_writes_the_table_json_and_chart(tmp_path: Path) -> None:
    assert runner.main(["--quick", "--no-memory", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "results.json").read_text())
    names = [r["name"] for r in report["results"]]
    assert names == [
        "parse/json",
        "parse/orjson",
        "parse/msgspec",
        "parse/sonic-rs",
        "parse/sonic-rs-lazy",
        "parse/simd-json",
        "parse/serde_json",
        "assemble/json",
        "assemble/orjson",
        "assemble/msgspec",
        "assemble/xrfast",
        "assemble/xrfast+json",
        "analyze/summaries",
        "analyze/graph",
        "analyze/all",
    ]
    assert all(r["median_seconds"] > 0 and r["documents_per_s"] > 0 for r in report["results"])
    assert "assemble/xrfast vs assemble/orjson (speed-up)" in report["ratios"]
    assert "analyze/all over assemble/xrfast (added time)" in report["ratios"]
    pairs = report["analyze_over_assemble_pairs"]
    assert pairs["pairs"] == len(pairs["parse_runs"]) == len(pairs["analyze_runs"]) > 0
    assert report["memory_bytes_per_buffered_segment"] > 0
    assert report["filter"]["correct"] and len(report["filter"]["cases"]) == 5
    assert all(c["xrfast_per_s"] > 0 and c["python_per_s"] > 0 for c in report["filter"]["cases"])
    links = report["links"]
    assert links["correct"] and links["checks"]["oracle"] and links["links"] > 0
    assert (tmp_path / "chart.png").read_bytes().startswith(b"\x89PNG")


def test_a_job_whose_traces_differ_from_the_reference_voids_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    corpus = runner.Corpus.generate(runner.workload.WorkloadConfig(traces=5, seed=3))
    expected = runner.Expected(corpus)
    honest = runner.jobs(corpus, expected)

    def with_a_lie(*_: object) -> list[runner.Job]:
        lie = runner.Job(
            "assemble/xrfast",
            lambda: xrfast.parse(corpus.ndjson),
            # drops every trace
            lambda ts: expected.same_traces(orjson.loads(ts.to_json()) | {"Traces": []}),
        )
        return [job for job in honest if job.name != "assemble/xrfast"] + [lie]

    monkeypatch.setattr(runner, "jobs", with_a_lie)
    with pytest.raises(SystemExit, match="assemble/xrfast: output differs from the reference"):
        runner.run_stages(corpus, 1, memory=False, console=Console(quiet=True))
