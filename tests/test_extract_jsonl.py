"""`adoptwatch extract --jsonl` with hostile lines among good ones (issue 17, case 4): the real
command in its own process. Every line stands on its own, the output keeps the input's
order, the exit status says whether any line failed, and a huge line costs neither memory
nor time.
"""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path
from typing import Any

from adoptwatch.pipeline.extract_lines import extract_lines
from tests import peak_rss

ADOPTWATCH = str(Path(sys.executable).with_name("adoptwatch"))
GOOD = {"id": "good", "text": "Airbnb replaced ChatGPT with Qwen in its support agent."}
GOOD_CLAIMS = {("Airbnb", "adopts", "Qwen"), ("Airbnb", "drops", "GPT")}


def good(n: int) -> bytes:
    return json.dumps({**GOOD, "id": f"good-{n}"}).encode() + b"\n"


def run_extract(stdin: Path, timeout: float = 180) -> tuple[int, list[dict], str, float]:
    """The real command over ``stdin``; (status, output records, stderr, peak RSS MiB)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADOPTWATCH_")}
    out, err = stdin.with_suffix(".out"), stdin.with_suffix(".err")
    with stdin.open("rb") as i, out.open("wb") as o, err.open("wb") as e:
        status, peak_mib = peak_rss.run_measured(
            [ADOPTWATCH, "extract", "--jsonl"], stdin.with_suffix(".rss"), timeout,
            stdin=i, stdout=o, stderr=e, env=env,
        )  # fmt: skip
    records = [json.loads(line) for line in out.read_text().splitlines()]
    return status, records, err.read_text(), peak_mib


def claims(record: dict) -> set[tuple[str, str, str]]:
    return {(c["adopter"], c["relation"], c["model_family"]) for c in record["claims"]}


def test_each_bad_line_costs_only_itself(tmp_path: Path) -> None:
    bad = {
        "not utf-8": b'{"id": "x", "text": "caf\xe9"}\n',
        "lone surrogate": b'{"id": "s", "text": "a \\ud800 b"}\n',
        "too deep": b"[" * 200_000 + b"\n",
        "not json": b"this is not json\n",
        "no text": b'{"id": "t"}\n',
        "over the cap": b'{"id": "c", "text": "' + b"a" * 1_000_001 + b'"}\n',
        "title not a string": b'{"id": "n", "text": "x", "title": 5}\n',
    }
    stdin = tmp_path / "in.jsonl"
    lines = []
    for n, line in enumerate(bad.values()):
        lines += [good(n), line]  # each bad line in the same batch as a good one
    stdin.write_bytes(b"".join(lines) + good(99))

    status, records, err, _ = run_extract(stdin)

    assert status == 1, err
    assert f"{len(bad)} of {2 * len(bad) + 1} line(s) failed" in err
    assert "Traceback" not in err
    assert len(records) == 2 * len(bad) + 1
    for n, (kind, record) in enumerate(zip(bad, records[1::2], strict=True)):
        assert set(record) == {"id", "error"}, kind
        assert record["error"].startswith(f"line {2 * n + 2}: "), (kind, record)
        assert records[2 * n]["id"] == f"good-{n}"
        assert claims(records[2 * n]) == GOOD_CLAIMS, kind
    assert claims(records[-1]) == GOOD_CLAIMS
    assert records[3]["id"] == "s" and "surrogate" in records[3]["error"]
    assert "max_article_chars" in records[11]["error"]


def test_all_good_lines_exit_0(tmp_path: Path) -> None:
    stdin = tmp_path / "in.jsonl"
    stdin.write_bytes(good(1) + b"\n" + good(2))
    status, records, err, _ = run_extract(stdin)
    assert status == 0, err
    assert [r["id"] for r in records] == ["good-1", "good-2"]
    switch = {c["relation"]: c for c in records[0]["claims"]}
    assert not switch["adopts"]["vendor_level"]
    # the drop and the adoption of one switch share its number
    assert switch["adopts"]["switch"] is not None
    assert switch["adopts"]["switch"] == switch["drops"]["switch"]


def test_a_50_mb_line_among_good_ones_is_skipped_unread(tmp_path: Path) -> None:
    stdin = tmp_path / "in.jsonl"
    with stdin.open("wb") as f:
        f.write(good(1))
        f.write(b'{"id": "huge", "text": "')
        for _ in range(50):
            f.write(b"Airbnb adopted Qwen. " * 50_000)  # 1 MB
        f.write(b'"}\n')
        f.write(good(2))
    status, records, err, peak_mib = run_extract(stdin)
    assert status == 1, err
    assert [r["id"] for r in records] == ["good-1", None, "good-2"]
    assert "skipped unread" in records[1]["error"]
    assert claims(records[0]) == claims(records[2]) == GOOD_CLAIMS
    # The pipeline and spaCy take about 200 MiB; the line is never held whole.
    assert peak_mib < 500, f"peak RSS {peak_mib:.0f} MiB"


class TitledExtractor:
    """Records what reaches ``extract_many``: the plumbing, not the model, is under test."""

    version = "titled"

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], list[str | None]]] = []

    def extract_many(self, texts: list[str], titles: list[str | None]) -> list[Any]:
        self.calls.append((list(texts), list(titles)))
        return [type("Extraction", (), {"claims": []})() for _ in texts]


def test_titles_reach_the_extractor_beside_their_texts() -> None:
    extractor = TitledExtractor()
    stdin = io.BytesIO(
        b'{"id": 1, "text": "a", "title": "Lyft picks Claude"}\n{"id": 2, "text": "b"}\n'
    )
    out = io.BytesIO()
    tally = extract_lines(extractor, stdin, out, max_chars=1000)
    assert tally.failed == 0
    assert extractor.calls == [(["a", "b"], ["Lyft picks Claude", ""])]
    assert [json.loads(line) for line in out.getvalue().splitlines()] == [
        {"id": 1, "claims": []},
        {"id": 2, "claims": []},
    ]
