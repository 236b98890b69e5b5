"""The README's promises, executed: its two commands exist as written and its examples run."""

from __future__ import annotations

import gzip
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

import xrfast

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()
SDK_STREAM = Path(__file__).parent / "fixtures" / "sdk" / "stream.ndjson"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def test_the_quick_start_is_exactly_two_commands_and_ci_runs_the_test_one() -> None:
    quick_start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [
        block.strip() for block in re.findall(r"```sh\n(.*?)```", quick_start, flags=re.DOTALL)
    ]
    assert commands == ["pip install . && xrfast demo", "make test"]
    assert "\nmake test\n" in (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^test: .*## ", (ROOT / "Makefile").read_text(), flags=re.MULTILINE)


def test_the_python_examples_run_on_real_sdk_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The examples read "segments.ndjson.gz" and stream from a stand-in for a UDP receiver.
    with gzip.open(tmp_path / "segments.ndjson.gz", "wb") as out, SDK_STREAM.open("rb") as source:
        shutil.copyfileobj(source, out)
    datagrams = SDK_STREAM.read_bytes().split(b"\n")
    pairs = [b"\n".join(datagrams[i : i + 2]) for i in range(0, len(datagrams) - 1, 2)]
    handled: list[Any] = []
    namespace: dict[str, Any] = {
        "receive_batches": lambda: [pairs[i : i + 50] for i in range(0, len(pairs), 50)],
        "handle": handled.append,
    }
    monkeypatch.chdir(tmp_path)
    examples = blocks("python")
    assert len(examples) == 4
    for example in examples:
        exec(compile(example, "README.md", "exec"), namespace)  # noqa: S102 - the README's own code
    assert namespace["traces"][0].id.startswith("1-")
    with pytest.raises(xrfast.FilterExpressionError) as excinfo:
        xrfast.compile_filter("responsetime >")
    assert str(excinfo.value) in README
    assert namespace["keep"].shape == (len(namespace["traces"]),)
    assert namespace["examples"].report()["Paths"]
    # Datagrams are stamped with the wall clock, so with idle_timeout=5 nothing is complete yet.
    assert namespace["assembler"].stats["documents_accepted"] == len(pairs)
