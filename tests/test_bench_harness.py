"""The benchmark harness's own logic: medians, record counting, refusal of wrong counts, the
BENCHMARKS.md writer and the profile summary. (The benchmark itself runs with `make bench`.)"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

BENCH_DIR = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH_DIR))

from harness import (  # noqa: E402
    Figure,
    HarnessError,
    Sample,
    check_count,
    count_jsonl_lines,
    count_parquet_rows,
    run_measured,
)
from profile_export import summarise  # noqa: E402
from report import BEGIN, END, write_benchmarks_md  # noqa: E402


def test_figure_takes_medians_and_rejects_disagreeing_counts() -> None:
    samples = [Sample(3.0, 1.0, 100, 10), Sample(1.0, 3.0, 300, 10), Sample(2.0, 2.0, 200, 10)]
    figure = Figure.of(samples)
    assert (figure.wall_s, figure.cpu_s, figure.peak_rss_mb) == (2.0, 2.0, 200)
    assert figure.records_per_s == 5.0
    with pytest.raises(HarnessError, match="disagree"):
        Figure.of([Sample(1.0, 1.0, 1, 10), Sample(1.0, 1.0, 1, 11)])
    # A live simulator's data grows between runs: the count is then a median as well.
    varying = [Sample(1.0, 1.0, 1, 10), Sample(1.0, 1.0, 1, 14), Sample(1.0, 1.0, 1, 11)]
    assert Figure.of(varying, records_vary=True).records == 11


def test_wrong_count_is_a_harness_error() -> None:
    check_count("x", 5, 5)
    with pytest.raises(HarnessError, match="wrote 4 records, the simulator holds 5"):
        check_count("x", 4, 5)


def test_counts_parquet_rows_and_jsonl_lines(tmp_path: Path) -> None:
    table = pa.table({"key": list(range(7))})
    (tmp_path / "a" / "snap").mkdir(parents=True)
    pq.write_table(table, tmp_path / "a" / "snap" / "part-0.parquet")
    pq.write_table(table.slice(0, 3), tmp_path / "a" / "part-1.parquet")
    assert count_parquet_rows(tmp_path / "a") == 10
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "p.jsonl").write_bytes(b'{"a":1}\n{"a":2}\n')
    with gzip.open(tmp_path / "b" / "q.jsonl.gz", "wb") as handle:
        handle.write(b'{"a":3}\n')
    assert count_jsonl_lines(tmp_path / "b") == 3
    with pytest.raises(HarnessError, match="no Parquet files"):
        count_parquet_rows(tmp_path / "b")


def test_run_measured_reports_child_usage_and_failures(tmp_path: Path) -> None:
    burn = "x = bytearray(30 * 1024 * 1024); print('done')"
    wall, cpu, rss, out = run_measured(
        [sys.executable, "-c", burn], log_path=tmp_path / "ok.log", timeout_s=60
    )
    assert out.strip() == "done"
    assert rss >= 30 and wall > 0 and cpu > 0
    with pytest.raises(HarnessError, match="exited 3"):
        run_measured(
            [sys.executable, "-c", "import sys; sys.exit(3)"],
            log_path=tmp_path / "bad.log",
            timeout_s=60,
        )


def test_benchmarks_md_keeps_hand_written_notes(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    write_benchmarks_md(path, f"{BEGIN}\nfirst\n{END}")
    text = path.read_text()
    path.write_text(text + "\n## Notes\nkeep me\n")
    write_benchmarks_md(path, f"{BEGIN}\nsecond\n{END}")
    text = path.read_text()
    assert "second" in text and "first" not in text and "keep me" in text


def test_profile_summary_counts_self_and_inclusive_time(tmp_path: Path) -> None:
    raw = tmp_path / "raw.txt"
    raw.write_text(
        "main (a.py:1);convert (b.py:10);listcomp (b.py:12) 30\n"
        "main (a.py:1);convert (b.py:11) 10\n"
        "main (a.py:2);post (c.py:5) 60\n"
    )
    text = summarise(raw, rate=100, top=5)
    self_part, inclusive_part = text.split("inclusive time")
    assert "60.0%    0.60 s  post (c.py)" in self_part
    assert "40.0%    0.40 s  convert (b.py)" in inclusive_part
    assert "100.0%    1.00 s  main (a.py)" in inclusive_part
