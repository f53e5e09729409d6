"""Our own eval-case format: `{id?, input, expected?, metadata?, messages?}` a record."""

from tests.conftest import write_jsonl
from tests.ingest.test_parquet import write_parquet


def test_a_null_field_is_one_not_given_as_a_parquet_file_gives_every_row_each_column(tmp_path, ingest_eval):
    def rows(prefix, **fields):
        return [{"id": f"{prefix}1", "input": "Where is my parcel?", "expected": "in transit", "target": None,
                 "metadata": {"app": "shop"}, "tags": None, **fields},
                {"id": f"{prefix}2", "input": "Cancel my order", "expected": None, "target": "cancelled",
                 "metadata": None, "tags": ["orders"], **fields}]

    for path in (write_parquet(tmp_path / "evals.parquet", rows("p")), write_jsonl(tmp_path / "evals.jsonl", rows("j"))):
        report, cases = ingest_eval(path, format="eval-case")  # auto: a target column is Inspect's
        assert report.quarantined == []
        assert [(case["expected"], case["metadata"]) for case in cases] == [
            ("in transit", {"app": "shop"}), ("cancelled", {"tags": ["orders"]})]
    plain = [{key: value for key, value in row.items() if key != "target"} for row in rows("n")]
    report, cases = ingest_eval(write_parquet(tmp_path / "plain.parquet", plain))
    assert (report.format, report.quarantined) == ("eval-case", [])
    assert [(case["expected"], case["metadata"]) for case in cases] == [
        ("in transit", {"app": "shop"}), (None, {"tags": ["orders"]})]
