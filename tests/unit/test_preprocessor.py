"""The preprocessor: entities, references and chunks per language; linking across files; documents and PDFs."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pytest

from sparkctl.services.common.parsed import ParsedFile
from sparkctl.services.preprocessor.chunking import code_chunks
from sparkctl.services.preprocessor.code import Span
from sparkctl.services.preprocessor.parse import custom_kg, link, parse_file


def entities(parsed: ParsedFile) -> list[tuple[str, str, int, int]]:
    return [(e.name, e.kind, e.start_line, e.end_line) for e in parsed.entities]


def references(parsed: ParsedFile) -> set[tuple[str, str, str]]:
    return {(r.source, r.target, r.kind) for r in parsed.references}


def relationships(files: list[ParsedFile], kind: str) -> set[tuple[str, str]]:
    return {(r.source, r.target) for f in files for r in f.relationships if r.kind == kind}


PYTHON = b'''"""Shapes."""
import os
from .base import Base as B


class Thing(B):
    """A thing."""

    def run(self):
        return self.helper(os.getcwd())

    def helper(self, x):
        return x


def main():
    Thing().run()
'''


def test_python_entities_docstrings_and_references() -> None:
    parsed = parse_file("pkg/shapes.py", PYTHON)
    assert entities(parsed) == [
        ("pkg.shapes", "module", 1, 18),
        ("pkg.shapes.Thing", "class", 6, 13),
        ("pkg.shapes.Thing.run", "method", 9, 10),
        ("pkg.shapes.Thing.helper", "method", 12, 13),
        ("pkg.shapes.main", "function", 16, 17),
    ]
    assert [e.doc for e in parsed.entities[:2]] == ["Shapes.", "A thing."]
    assert parsed.entities[2].signature == "def run(self)"
    assert parsed.imports == {"os": "os", "B": "pkg.base.Base"}
    assert {
        ("pkg.shapes.Thing", "B", "inherits"),
        ("pkg.shapes.Thing.run", "self.helper", "calls"),
        ("pkg.shapes", "pkg.base", "imports"),
    } <= references(parsed)


@pytest.mark.parametrize(
    ("path", "source", "expected", "refs"),
    [
        (
            "web/shapes.ts",
            b'import { Base } from "./base";\n'
            b"export class Circle extends Base {\n  area(): number { return sq(1); }\n}\n"
            b"export interface Shape { area(): number; }\nexport enum Kind { A }\n"
            b"function sq(x: number) { return x; }\n",
            [
                ("web.shapes.Circle", "class"),
                ("web.shapes.Circle.area", "method"),
                ("web.shapes.Shape", "interface"),
                ("web.shapes.Kind", "enum"),
                ("web.shapes.sq", "function"),
            ],
            {("web.shapes.Circle", "Base", "inherits"), ("web.shapes.Circle.area", "sq", "calls")},
        ),
        (
            "app/view.tsx",
            b"export function View() { return <div>{render()}</div>; }\nfunction render() { return 1; }\n",
            [("app.view.View", "function"), ("app.view.render", "function")],
            {("app.view.View", "render", "calls")},
        ),
        (
            "app/main.js",
            b'import fs from "fs";\nclass Server { start() { listen(); } }\nfunction listen() {}\n',
            [("app.main.Server", "class"), ("app.main.Server.start", "method"), ("app.main.listen", "function")],
            {("app.main.Server.start", "listen", "calls"), ("app.main", "fs", "imports")},
        ),
        (
            "cmd/main.go",
            b'package main\nimport "fmt"\ntype Server struct { port int }\ntype Handler interface { Serve() }\n'
            b'func (s *Server) Start() { fmt.Println("x"); run() }\nfunc run() {}\n',
            [
                ("cmd.main.Server", "struct"),
                ("cmd.main.Handler", "interface"),
                ("cmd.main.Server.Start", "method"),
                ("cmd.main.run", "function"),
            ],
            {("cmd.main.Server.Start", "run", "calls"), ("cmd.main", "fmt", "imports")},
        ),
        (
            "src/geo.rs",
            b"use std::io;\npub struct Point { x: i32 }\npub trait Shape { fn area(&self) -> f64; }\n"
            b"impl Shape for Point { fn area(&self) -> f64 { helper() } }\nfn helper() -> f64 { 1.0 }\n",
            [
                ("geo.Point", "struct"),
                ("geo.Shape", "trait"),
                ("geo.Shape.area", "method"),
                ("geo.Point.area", "method"),
                ("geo.helper", "function"),
            ],
            {("geo.Point", "Shape", "inherits"), ("geo.Point.area", "helper", "calls")},
        ),
        (
            "src/main/java/com/acme/App.java",
            b"package com.acme;\nimport java.util.List;\npublic class App extends Base implements Runnable {\n"
            b"  public void run() { start(); }\n  private void start() {}\n}\n",
            [("com.acme.App.App", "class"), ("com.acme.App.App.run", "method"), ("com.acme.App.App.start", "method")],
            {
                ("com.acme.App.App", "Base", "inherits"),
                ("com.acme.App.App", "Runnable", "inherits"),
                ("com.acme.App.App.run", "start", "calls"),
            },
        ),
        (
            "src/util.c",
            b"#include <stdio.h>\nint add(int a, int b) { return helper(a) + b; }\n"
            b"static int helper(int x) { return x; }\nstruct point { int x; };\n",
            [("util.add", "function"), ("util.helper", "function"), ("util.point", "struct")],
            {("util.add", "helper", "calls"), ("util", "stdio.h", "imports")},
        ),
        (
            "src/shape.cpp",
            b'#include "shape.h"\nnamespace geo {\nclass Square : public Shape {\n public:\n'
            b"  double area() const { return side(); }\n};\ndouble compute() { return 1.0; }\n}\n",
            [("shape.geo.Square", "class"), ("shape.geo.Square.area", "method"), ("shape.geo.compute", "function")],
            {("shape.geo.Square", "Shape", "inherits"), ("shape.geo.Square.area", "side", "calls")},
        ),
    ],
)
def test_each_language_yields_its_definitions_and_references(
    path: str, source: bytes, expected: list[tuple[str, str]], refs: set[tuple[str, str, str]]
) -> None:
    parsed = parse_file(path, source)
    assert parsed.error is None and parsed.skipped is None
    assert [(e.name, e.kind) for e in parsed.entities[1:]] == expected
    assert refs <= references(parsed)


def test_leading_comments_become_docs() -> None:
    parsed = parse_file("src/geo.rs", b"/// A point in space.\npub struct Point { x: i32 }\n")
    assert parsed.entities[1].doc == "A point in space."
    java = parse_file("A.java", b"/** The app. */\nclass A {}\n")
    assert java.entities[1].doc == "The app."


def test_linking_resolves_calls_and_bases_across_files_and_drops_builtins() -> None:
    files = [
        parse_file("pkg/b.py", b"class Base:\n    pass\n\ndef func():\n    return len([])\n"),
        parse_file(
            "pkg/a.py",
            b"from pkg.b import func, Base\n\nclass Child(Base):\n    def go(self):\n        return func() + print()\n",
        ),
    ]
    linked = link(files)
    assert ("pkg.a.Child.go", "pkg.b.func") in relationships(linked, "calls")
    assert ("pkg.a.Child", "pkg.b.Base") in relationships(linked, "inherits")
    assert not {target for _, target in relationships(linked, "calls")} & {"len", "print"}
    imports = {(r.target, r.external) for f in linked for r in f.relationships if r.kind == "imports"}
    assert ("pkg.b", False) in imports


def test_a_package_importing_its_own_name_makes_no_self_loop() -> None:
    linked = link([parse_file("pkg/__init__.py", b"from pkg import sub\n"), parse_file("pkg/sub.py", b"x = 1\n")])
    assert all(r.source != r.target for f in linked for r in f.relationships)


def test_external_imports_are_kept_and_marked() -> None:
    linked = link([parse_file("m.py", b"import requests\n")])
    assert [(r.target, r.external) for r in linked[0].relationships if r.kind == "imports"] == [("requests", True)]


FIVE_FUNCTIONS = b"import os\n\n" + b"".join(f"def f{i}():\n    return {i}\n\n".encode() for i in range(5))


def test_chunks_cover_every_line_once_and_never_cut_a_definition() -> None:
    parsed = parse_file("m.py", FIVE_FUNCTIONS)
    lines = FIVE_FUNCTIONS.decode().splitlines(keepends=True)
    covered = [line for c in parsed.chunks for line in range(c.start_line, c.end_line + 1)]
    assert len(covered) == len(set(covered))
    assert {n for n, text in enumerate(lines, start=1) if text.strip()} <= set(covered)
    assert all(c.content == "".join(lines[c.start_line - 1 : c.end_line]) for c in parsed.chunks)
    definitions = [(3 + 3 * i, 4 + 3 * i) for i in range(5)]
    assert all(any(c.start_line <= start and end <= c.end_line for c in parsed.chunks) for start, end in definitions)


def test_neighbouring_definitions_share_a_chunk_up_to_the_packing_size() -> None:
    lines = FIVE_FUNCTIONS.decode().splitlines(keepends=True)
    spans = [Span(3 + 3 * i, 4 + 3 * i) for i in range(5)]
    assert [(c.start_line, c.end_line) for c in parse_file("m.py", FIVE_FUNCTIONS).chunks] == [(1, 17)]
    one_each = code_chunks("m.py", "python", lines, spans, pack=1)
    assert [c.start_line for c in one_each if c.content.startswith("def ")] == [3, 6, 9, 12, 15]
    two_each = code_chunks("m.py", "python", lines, spans, pack=16)
    assert [c.content.count("def ") for c in two_each if "def " in c.content] == [2, 2, 1]


def test_a_class_over_budget_is_split_at_its_methods() -> None:
    methods = "".join(f"    def m{i}(self):\n" + "        x = 1\n" * 20 + "\n" for i in range(6))
    source = ("class Big:\n" + methods).encode()
    lines = source.decode().splitlines(keepends=True)
    parsed = parse_file("big.py", source, budget=200)
    assert len(parsed.chunks) >= 3
    assert all(c.content.lstrip().startswith(("def m", "class Big")) for c in parsed.chunks)
    assert all(c.content.count("x = 1") % 20 == 0 for c in parsed.chunks)
    span = Span(1, len(lines), [Span(2 + i * 22, 22 + i * 22) for i in range(6)])
    assert [c.start_line for c in code_chunks("big.py", "python", lines, [span], budget=200, pack=1)][:3] == [1, 2, 24]


def test_chunk_ids_are_stable_and_entities_cite_them() -> None:
    first, second = parse_file("pkg/shapes.py", PYTHON), parse_file("pkg/shapes.py", PYTHON)
    assert [c.id for c in first.chunks] == [c.id for c in second.chunks]
    assert [c.id for c in parse_file("other/shapes.py", PYTHON).chunks] != [c.id for c in first.chunks]
    ids = {c.id for c in first.chunks}
    assert all(e.chunk_ids and set(e.chunk_ids) <= ids for e in first.entities)


def test_markdown_sections_carry_their_heading_path_and_keep_code_blocks_whole() -> None:
    code = "```python\n" + "print('x')\n\n" * 300 + "```\n"
    text = f"# Guide\nIntro.\n## Install\n### From source\nRun it.\n\n{code}# Other\nEnd.\n".encode()
    parsed = parse_file("docs/guide.md", text, budget=100)
    assert parsed.kind == "document"
    headings = [c.heading for c in parsed.chunks]
    assert headings[0] == "Guide" and "Guide > Install > From source" in headings and headings[-1] == "Other"
    fenced = [c for c in parsed.chunks if "```python" in c.content]
    assert len(fenced) == 1 and fenced[0].content.count("print('x')") == 300


def test_rst_headings_make_sections() -> None:
    parsed = parse_file("README.rst", b"Title\n=====\n\nHello.\n\nUsage\n-----\n\nRun.\n")
    assert [c.heading for c in parsed.chunks] == ["Title", "Title > Usage"]


def make_pdf(pages: list[str]) -> bytes:
    """A small valid PDF with one text line per page, written by hand (pypdf reads, it does not typeset)."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", ""]
    kids = []
    for index, text in enumerate(pages):
        page_id, content_id = 3 + 2 * index, 4 + 2 * index
        kids.append(f"{page_id} 0 R")
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET"
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {content_id} 0 R "
            f"/Resources << /Font << /F1 {3 + 2 * len(pages)} 0 R >> >> >>"
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(pages)} >>"
    objects.append("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out, offsets = io.BytesIO(), []
    out.write(b"%PDF-1.4\n")
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n{body}\nendobj\n".encode())
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    out.write("".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def test_pdf_pages_become_chunks() -> None:
    parsed = parse_file("manual.pdf", make_pdf(["Hello from page one", "Second page text"]))
    assert parsed.error is None
    assert [(c.heading, c.content) for c in parsed.chunks] == [
        ("page 1", "Hello from page one"),
        ("page 2", "Second page text"),
    ]


def test_encrypted_and_malformed_pdfs_are_per_file_errors() -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(io.BytesIO(make_pdf(["secret"]))).pages:
        writer.add_page(page)
    writer.encrypt("password")
    encrypted = io.BytesIO()
    writer.write(encrypted)
    batch = [
        parse_file("locked.pdf", encrypted.getvalue()),
        parse_file("broken.pdf", b"%PDF-1.4 garbage"),
        parse_file("ok.py", b"x = 1\n"),
    ]
    assert batch[0].error == "encrypted PDF"
    assert batch[1].error is not None and batch[1].error.startswith("malformed PDF")
    assert batch[2].error is None and batch[2].entities


@pytest.mark.parametrize(
    ("path", "data", "reason"),
    [
        ("logo.py", b"\x89PNG\0\0", "binary"),
        ("app.min.js", b"var a=1;" * 500, "minified"),
        ("big.py", b"x = 1\n" * 300_000, "too-large"),
        ("data.parquet", b"PAR1", "unsupported-language"),
    ],
)
def test_files_not_worth_indexing_are_skipped_with_the_reason(path: str, data: bytes, reason: str) -> None:
    assert parse_file(path, data).skipped == reason


def test_a_real_package_parses_links_and_becomes_a_custom_kg() -> None:
    root = Path(httpx.__file__).parent
    files = [parse_file(f"httpx/{p.relative_to(root).as_posix()}", p.read_bytes()) for p in sorted(root.rglob("*.py"))]
    linked = link(files)
    names = {e.name for f in linked for e in f.entities}
    assert {"httpx._client.Client", "httpx._client.Client.send"} <= names
    assert ("httpx._client.Client", "httpx._client.Client.send") in relationships(linked, "contains")
    assert ("httpx._client.Client", "httpx._client.BaseClient") in relationships(linked, "inherits")
    kg = custom_kg(linked)
    assert "httpx._client.Client" in {e["entity_name"] for e in kg["entities"]}
    chunk_ids = {c["source_id"] for c in kg["chunks"]}
    assert all(e["source_id"] in chunk_ids for e in kg["entities"])
    assert all(r["src_id"] in names for r in kg["relationships"])
