"""The crawl and storage benchmarks still run, in their quick mode, and measure what they
say they measure. No timing is asserted: speed is for the benchmarks to print."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchmarks.__main__ import discover

REPO = Path(__file__).resolve().parent.parent


def run_quick(name: str, tmp_path: Path) -> dict:
    out = tmp_path / f"{name}.json"
    done = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{name}", "--quick", "--json", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(out.read_text(encoding="utf-8"))


def test_crawl_benchmark_quick(tmp_path: Path) -> None:
    figures = run_quick("crawl", tmp_path)
    assert figures["problems"] == []
    assert figures["first_articles"] == figures["hosts"] * figures["articles_per_host"] == 40
    assert figures["first_events"] > 0  # the generated articles do report adoptions
    # The re-crawl got a 304 for every feed and fetched no article again.
    assert figures["recrawl_feeds_unchanged"] == 4 and figures["recrawl_articles"] == 0
    assert figures["politeness"]["per_host_delay"] == 0.2
    # 12 request starts per host, 0.2 s apart, plus the last one's latency.
    assert abs(figures["bound_seconds"] - (11 * 0.2 + 0.05)) < 1e-9
    assert figures["peak_rss_bytes"] > 0 and figures["first_seconds"] > 0
    assert figures["naive_articles_per_second"] > 0


def test_storage_benchmark_quick(tmp_path: Path) -> None:
    figures = run_quick("storage", tmp_path)
    writes = figures["writes"]
    for key in (
        "sessions_rows_per_second",
        "open_rows_per_second",
        "rowwise_rows_per_second",
        "bulk_rows_per_second",
        "bulk_rowwise_rows_per_second",
    ):
        assert writes[key] > 0, key
    rollups = figures["rollups"]["rollups"]
    assert {
        "week_totals",
        "new_adopters",
        "switches",
        "model_ranking",
        "origin_share (12 weeks)",
        "build_digest (all of it)",
    } <= set(rollups)


def test_the_runner_finds_every_benchmark_and_its_quick_mode() -> None:
    found = {b.name: b for b in discover()}
    assert {"crawl", "storage"} <= set(found)
    assert not any(name.startswith("_") for name in found)  # helpers are not benchmarks
    assert found["crawl"].quick_args == ["--quick"]


def test_limits_benchmark_quick(tmp_path: Path) -> None:
    figures = run_quick("limits", tmp_path)
    assert figures["rows"] == 1_000_000 and figures["line_mb"] == 5
    assert figures["query"]["exit"] == 0 and figures["query_baseline"]["exit"] == 0
    assert figures["extract"]["exit"] == 1  # the long line is an error line
    assert figures["extract_baseline"]["exit"] == 0
    for key in ("query", "query_baseline", "extract", "extract_baseline"):
        assert figures[key]["peak_rss_mib"] > 0 and figures[key]["seconds"] > 0, key


def test_facts_benchmark_quick() -> None:
    """The fold, its two baselines, and the check that folded facts equal a rebuild."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.facts",
            "--events",
            "30000",
            "--articles",
            "200",
            "--repeat",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "fold of the new events into the facts" in out
    assert "baseline, recompute" in out and "baseline, full rebuild" in out
    assert "folded facts equal a rebuild: yes" in out
