"""What the worker keeps while a job runs: parsed answers on disk, and inserts bounded by files and records."""

from __future__ import annotations

from sparkctl.services.common.parsed import ParsedFile
from sparkctl.services.preprocessor.parse import parse_file
from sparkctl.services.worker.pipeline import _insert_batches
from sparkctl.services.worker.settings import WorkerSettings
from sparkctl.services.worker.spill import ParsedSpill


def module(name: str, functions: int) -> ParsedFile:
    return parse_file(f"{name}.py", "".join(f"def f{i}():\n    return {i}\n\n" for i in range(functions)).encode())


def records(item: ParsedFile) -> int:
    return len(item.chunks) + len(item.entities) + len(item.relationships)


def test_inserts_hold_at_most_insert_files_files_and_insert_records_records() -> None:
    files = [module(f"m{i}", 3) for i in range(7)] + [module("huge", 400), module("after", 1)]
    settings = WorkerSettings(database_url="postgresql://u:p@h/db", insert_files=3, insert_records=30)

    batches = list(_insert_batches(iter(files), settings))

    assert [item.path for batch in batches for item in batch] == [item.path for item in files]
    assert all(len(batch) <= 3 for batch in batches)
    assert all(sum(map(records, batch)) <= 30 for batch in batches if len(batch) > 1)
    assert [item.path for item in next(batch for batch in batches if sum(map(records, batch)) > 30)] == ["huge.py"]


def test_parsed_answers_come_back_from_disk_whole_and_in_order_with_their_names_read_at_once() -> None:
    first, second = [module("a", 2), module("b", 1)], [ParsedFile(path="c.bin", skipped="binary")]
    with ParsedSpill() as spill:
        names = [
            *spill.add(b'{"files":[' + b",".join(f.model_dump_json().encode() for f in first) + b"]}"),
            *spill.add(b'{"files":[' + second[0].model_dump_json().encode() + b"]}"),
        ]
        back = list(spill.files())

    assert back == [*first, *second]
    assert [(item.path, [e.name for e in item.entities], item.usable) for item in names] == [
        ("a.py", ["a", "a.f0", "a.f1"], True),
        ("b.py", ["b", "b.f0"], True),
        ("c.bin", [], False),
    ]
