"""Vector index methods on the entity vectors of a real corpus: build time, search time, and how many of the
exact nearest vectors each brings back.

    python bench/vector_index.py [--files 10000] [--queries 100] [--runs 3]

The corpus is bench/ingest.py's (the first `--files` indexable `*.py` files of site-packages), parsed and linked
by the preprocessor's code; each entity's text is what LightRAG embeds (its name, a line, its description), with
the hash embedder at its default size, in a table shaped like LightRAG's on embedded PostgreSQL. Each query is
the name of a function or class the corpus defines, as the archive's keywords send it; searches are LightRAG's
(`workspace`, a distance cut-off, the nearest 8). Recall is against an exact scan of the same table in the same
run; times are medians over `--runs` builds and over the queries.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import psycopg
from ingest import corpus, questions
from pgvector.psycopg import register_vector

from sparkctl.local.process import free_port
from sparkctl.local.servers import postgres
from sparkctl.services.common.embedding import DEFAULT_DIMENSIONS, hash_embed
from sparkctl.services.lightrag.vector_index import ivfflat_lists
from sparkctl.services.preprocessor.parse import custom_kg, link, parse_file

SEARCH = (
    "SELECT id FROM entities WHERE workspace = 'w' AND content_vector <=> %(q)s < 0.8 "
    "ORDER BY content_vector <=> %(q)s LIMIT 8"
)


def entity_texts(files: list[tuple[str, bytes]]) -> list[str]:
    kg = custom_kg(link([parse_file(path, data) for path, data in files]))
    return [f"{entity['entity_name']}\n{entity['description']}" for entity in kg["entities"]]


def load(connection: psycopg.Connection, texts: list[str]) -> None:
    connection.execute(
        f"CREATE TABLE entities (workspace text, id text, content_vector vector({DEFAULT_DIMENSIONS}), "
        "PRIMARY KEY (workspace, id))"
    )
    with connection.cursor().copy("COPY entities FROM STDIN") as copy:
        for start in range(0, len(texts), 5000):
            for offset, vector in enumerate(hash_embed(texts[start : start + 5000], DEFAULT_DIMENSIONS)):
                copy.write_row(("w", f"e{start + offset}", "[" + ",".join(map(str, vector.tolist())) + "]"))
    connection.execute("ANALYZE entities")


def search(connection: psycopg.Connection, vectors: list) -> tuple[list[list[str]], float]:
    """The ids each query finds, and the median seconds of a search."""
    found, seconds = [], []
    for vector in vectors:
        began = time.perf_counter()
        found.append([row[0] for row in connection.execute(SEARCH, {"q": vector}).fetchall()])
        seconds.append(time.perf_counter() - began)
    return found, statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=10000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3, help="builds of each index; times are their medians")
    args = parser.parse_args()

    files = corpus(args.files, None)
    texts = entity_texts(files)
    names = [question.split("`")[1] for question in questions(files, args.queries)]
    vectors = [hash_embed([name], DEFAULT_DIMENSIONS)[0] for name in names]
    lists = ivfflat_lists(len(texts))
    variants = [
        ("ivfflat", f"lists = {lists}", "ivfflat.probes", value, f"ivfflat, {lists} lists, {value} probes")
        for value in (10, 20, 30, 60)
    ] + [
        ("hnsw", "m = 16, ef_construction = 64", "hnsw.ef_search", value, f"hnsw m=16 efc=64, ef_search {value}")
        for value in (100, 400)
    ]
    data_dir = Path(tempfile.mkdtemp(prefix="sparkctl-bench-"))
    data_dir.chmod(0o755)
    server = postgres(data_dir, free_port(), durable=False)
    server.process.start()
    rows: list[tuple[str, str, str, str, str]] = []
    try:
        with psycopg.connect(server.url, autocommit=True, prepare_threshold=None) as connection:
            connection.execute("CREATE EXTENSION IF NOT EXISTS vector")
            register_vector(connection)
            load(connection, texts)
            connection.execute("SET enable_indexscan = off")
            exact, exact_seconds = search(connection, vectors)
            connection.execute("SET enable_indexscan = on")
            connection.execute("SET maintenance_work_mem = '1024MB'")
            built: dict[str, float] = {}
            for method, options, setting, value, label in variants:
                if method not in built:
                    builds = []
                    for _ in range(args.runs):
                        connection.execute("DROP INDEX IF EXISTS bench_index")
                        began = time.perf_counter()
                        connection.execute(
                            f"CREATE INDEX bench_index ON entities USING {method} "
                            f"(content_vector vector_cosine_ops) WITH ({options})"
                        )
                        builds.append(time.perf_counter() - began)
                    built = {method: statistics.median(builds)}
                connection.execute(f"SET {setting} = {value}")
                found, seconds = search(connection, vectors)
                nearest = sum(len(set(got) & set(want)) for got, want in zip(found, exact, strict=True))
                first = sum(bool(want) and got[:1] == want[:1] for got, want in zip(found, exact, strict=True))
                rows.append(
                    (
                        label,
                        f"{built[method]:.1f} s",
                        f"{seconds * 1000:.1f} ms",
                        f"{nearest / max(1, sum(map(len, exact))):.0%}",
                        f"{first}/{len(vectors)}",
                    )
                )
    finally:
        server.process.stop()
    print(
        f"{len(texts)} entity vectors of {len(files)} files; {len(vectors)} queries; exact scan "
        f"{exact_seconds * 1000:.1f} ms per search"
    )
    print(f"{'index':<34} {'build':>8} {'search p50':>11} {'nearest 8':>10} {'nearest 1':>10}")
    for label, build, search_time, recall, first in rows:
        print(f"{label:<34} {build:>8} {search_time:>11} {recall:>10} {first:>10}")


if __name__ == "__main__":
    main()
