"""The preprocessor's parser processes: a batch dealt across real spawned processes comes back whole and in
order, the same as parsing it here."""

from __future__ import annotations

import asyncio
import json
import multiprocessing

from sparkctl.services.common.parsed import ParsedFile
from sparkctl.services.preprocessor.pool import ParserPool, parse_files


def test_a_batch_parsed_across_processes_equals_one_parsed_here() -> None:
    files = [
        (f"pkg/mod{n}.py", f"class C{n}:\n    def run(self):\n        return helper{n}()\n".encode()) for n in range(40)
    ]
    files.append(("notes/readme.md", b"# Title\n\nSome prose.\n"))
    files.append(("bin/blob.dat", b"\0\1\2"))
    pool = ParserPool(2)
    try:
        answers = asyncio.run(pool.parse_json(files, 1 << 20))
        parsed = asyncio.run(pool.parse(files, 1 << 20))
        assert len(multiprocessing.active_children()) == 2, "the batch was not parsed in the pool's processes"
    finally:
        pool.close()
    expected = parse_files(files, 1 << 20)
    assert [json.loads(answer)["path"] for answer in answers] == [path for path, _ in files]
    assert [ParsedFile.model_validate_json(answer) for answer in answers] == expected
    assert parsed == expected
