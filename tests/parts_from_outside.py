"""Parts a team writes in its own code, outside harness_evals, and names as module:function."""

import csv
import json


def answer_in_capitals(trace, sig, settings):
    """A detector: an answer written in capitals reads as shouting at the customer."""
    letters = [character for character in trace.output if character.isalpha()]
    if len(letters) >= 8 and all(character.isupper() for character in letters):
        return f"the answer is in capitals ({len(letters)} letters)"
    return None


def write_tsv(items, handle):
    """A queue format: tab-separated, the columns a spreadsheet team labels in."""
    writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
    writer.writerow(["trace_id", "input", "expected"])
    writer.writerows([item["trace_id"], item["input"], ""] for item in items)


def to_markdown(cases):
    """A suite format: a table to paste into a review."""
    rows = [f"| {case.id} | {case.input} | {json.dumps(case.metadata, sort_keys=True)} |" for case in cases]
    return "\n".join(["| id | input | metadata |", "|---|---|---|", *rows]) + "\n"
