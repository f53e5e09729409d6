"""Worker processes parse a large JSON-lines file in pieces and store exactly what one process stores."""

import json

from harness_evals import ingest as ingest_module
from harness_evals.ingest import _line_chunks, ingest_file
from harness_evals.ingest.framing import Span
from harness_evals.store import Store
from tests.conftest import trace


def lines(tmp_path):
    rows = [json.dumps(trace(f"t{n:03}", f"request number {n} " + "x" * (n % 7) * 40)) for n in range(300)]
    rows[17] = "{not json"
    rows[40] = ""  # blank: skipped, but counted in line numbers
    rows[150] = rows[10]  # same id, same content: unchanged
    rows[250] = json.dumps(trace("t020", "something else"))  # same id, other content: quarantined
    rows[260] = json.dumps({"trace_id": "bad"})  # no input
    path = tmp_path / "traces.jsonl"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_pieces_tile_the_span_at_line_ends_with_their_line_numbers(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(b"a\n" + b"b" * 50 + b"\n" + b"c\nd\n\ne")  # the second line is longer than a piece
    pieces = list(_line_chunks(path, Span(0, 1, path.stat().st_size), chunk_bytes=4))
    assert pieces == [Span(0, 1, 53), Span(53, 3, 57), Span(57, 5, 59)]  # the first runs on to its line end
    assert list(_line_chunks(path, Span(53, 3, 59), chunk_bytes=4)) == [Span(53, 3, 57), Span(57, 5, 59)]


def test_workers_store_what_one_process_stores(tmp_path, monkeypatch):
    path = lines(tmp_path)
    spans = []
    by_workers = ingest_module._prepared_by_workers
    monkeypatch.setattr(ingest_module, "_prepared_by_workers",
                        lambda pieces, *, workers: spans.extend(p[3] for p in pieces) or by_workers(pieces, workers=workers))

    small_pieces = {"parallel_min_bytes": 0, "chunk_bytes": 3000}
    results = []
    for name, workers in (("one", 1), ("two", 2)):
        with Store(tmp_path / f"{name}.duckdb") as store:
            report = ingest_file(store, path, kind="production", workers=workers, **small_pieces)
            path.write_text(path.read_text() + json.dumps(trace("t999", "arrived later")) + "\n")
            again = ingest_file(store, path, kind="production", workers=workers, **small_pieces)
            path.write_text(path.read_text().removesuffix(json.dumps(trace("t999", "arrived later")) + "\n"))
            results.append((
                (report.stored, report.unchanged, [(q.line, q.reason) for q in report.quarantined]),
                (again.from_line, again.stored, again.unchanged),
                store.con.execute("SELECT * EXCLUDE (run_id) FROM traces ORDER BY trace_id").fetchall(),
                store.con.execute("SELECT source, line, reason, raw FROM quarantine ORDER BY line").fetchall(),
                store.con.execute("SELECT offset_bytes, lines, fingerprint FROM ingest_watermarks").fetchall(),
            ))
    assert len(spans) > 10  # the second store's file went through the workers, in pieces
    one, two = results
    assert one == two
    counts, again = one[0], one[1]
    assert counts[:2] == (295, 1)
    assert [line for line, _ in counts[2]] == [18, 251, 261]
    assert "already stored with different content" in counts[2][1][1]
    assert again == (301, 1, 0)
