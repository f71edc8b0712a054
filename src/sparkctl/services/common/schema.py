"""The PostgreSQL schema of the services, as numbered migrations applied once, in order.

Every service calls `migrate` at start. A transaction-scoped advisory lock makes concurrent starts
safe: one process applies what is missing while the others wait, then find nothing left to do.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import AsyncConnection


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "ingest: documents, jobs, workspace file index",
        """
        CREATE TABLE documents (
            id uuid PRIMARY KEY,
            workspace text NOT NULL,
            name text NOT NULL,
            content_type text NOT NULL,
            size bigint NOT NULL,
            sha256 text NOT NULL,
            blob bytea NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX documents_workspace_sha256 ON documents (workspace, sha256);

        CREATE TABLE ingest_jobs (
            id uuid PRIMARY KEY,
            document_id uuid NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
            workspace text NOT NULL,
            kind text NOT NULL CHECK (kind IN ('document', 'codebase')),
            source text NOT NULL,
            status text NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'started', 'indexing', 'completed', 'failed')),
            attempts integer NOT NULL DEFAULT 0,
            error text,
            files_total integer NOT NULL DEFAULT 0,
            files_done integer NOT NULL DEFAULT 0,
            files_unchanged integer NOT NULL DEFAULT 0,
            files_skipped integer NOT NULL DEFAULT 0,
            files_deleted integer NOT NULL DEFAULT 0,
            skipped jsonb NOT NULL DEFAULT '{}'::jsonb,
            skipped_files jsonb NOT NULL DEFAULT '[]'::jsonb,
            entities integer NOT NULL DEFAULT 0,
            relations integer NOT NULL DEFAULT 0,
            chunks integer NOT NULL DEFAULT 0,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            started_at timestamptz,
            finished_at timestamptz
        );
        CREATE INDEX ingest_jobs_workspace_created ON ingest_jobs (workspace, created_at DESC);
        CREATE INDEX ingest_jobs_status ON ingest_jobs (status);

        CREATE TABLE workspace_files (
            workspace text NOT NULL,
            source text NOT NULL,
            path text NOT NULL,
            sha256 text NOT NULL,
            job_id uuid,
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (workspace, source, path)
        );
        """,
    ),
    Migration(
        2,
        "chat memory: sessions with summaries (recall), every message",
        """
        CREATE EXTENSION IF NOT EXISTS vector;

        CREATE TABLE chat_sessions (
            workspace text NOT NULL,
            id text NOT NULL,
            user_turns integer NOT NULL DEFAULT 0,
            summary text,
            summary_embedding vector,
            summary_turns integer NOT NULL DEFAULT 0,
            summary_claimed_at timestamptz,
            archived_turns integer NOT NULL DEFAULT 0,
            archive_claimed_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (workspace, id)
        );
        CREATE INDEX chat_sessions_workspace_updated ON chat_sessions (workspace, updated_at DESC);

        CREATE TABLE chat_messages (
            id bigserial PRIMARY KEY,
            workspace text NOT NULL,
            session_id text NOT NULL,
            role text NOT NULL,
            content text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            FOREIGN KEY (workspace, session_id) REFERENCES chat_sessions (workspace, id) ON DELETE CASCADE
        );
        CREATE INDEX chat_messages_session ON chat_messages (workspace, session_id, id);
        """,
    ),
    Migration(
        3,
        "ingest: uploads stored in pieces (document_chunks); documents.blob kept for earlier uploads",
        """
        ALTER TABLE documents ALTER COLUMN blob DROP NOT NULL;

        CREATE TABLE document_chunks (
            document_id uuid NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
            seq integer NOT NULL,
            data bytea NOT NULL,
            PRIMARY KEY (document_id, seq)
        );
        """,
    ),
    Migration(
        4,
        "chat memory: each stored message names its turn, so a turn written again is stored once",
        """
        ALTER TABLE chat_messages ADD COLUMN turn_id text, ADD COLUMN turn_seq integer;
        CREATE UNIQUE INDEX chat_messages_turn ON chat_messages (turn_id, turn_seq);
        """,
    ),
    Migration(
        5,
        "digests: repositories, their commits, each commit's summary, one digest per repository and day; digest jobs",
        """
        ALTER TABLE ingest_jobs ALTER COLUMN document_id DROP NOT NULL;
        ALTER TABLE ingest_jobs DROP CONSTRAINT ingest_jobs_kind_check;
        ALTER TABLE ingest_jobs ADD CONSTRAINT ingest_jobs_kind_check
            CHECK (kind IN ('document', 'codebase', 'digest'));
        ALTER TABLE ingest_jobs ADD COLUMN params jsonb NOT NULL DEFAULT '{}'::jsonb;

        CREATE TABLE digest_repositories (
            id bigserial PRIMARY KEY,
            workspace text NOT NULL,
            name text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            UNIQUE (workspace, name)
        );

        CREATE TABLE digest_commits (
            repository_id bigint NOT NULL REFERENCES digest_repositories (id) ON DELETE CASCADE,
            sha text NOT NULL,
            author text NOT NULL,
            email text NOT NULL,
            authored_at timestamptz NOT NULL,
            committed_at timestamptz NOT NULL,
            message text NOT NULL,
            parents text[] NOT NULL DEFAULT '{}',
            files jsonb NOT NULL DEFAULT '[]'::jsonb,
            insertions integer NOT NULL DEFAULT 0,
            deletions integer NOT NULL DEFAULT 0,
            diff text NOT NULL DEFAULT '',
            diff_truncated boolean NOT NULL DEFAULT false,
            PRIMARY KEY (repository_id, sha)
        );
        CREATE INDEX digest_commits_committed ON digest_commits (repository_id, committed_at);

        CREATE TABLE digest_commit_summaries (
            repository_id bigint NOT NULL,
            sha text NOT NULL,
            summary text NOT NULL,
            model text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (repository_id, sha),
            FOREIGN KEY (repository_id, sha) REFERENCES digest_commits (repository_id, sha) ON DELETE CASCADE
        );

        CREATE TABLE digests (
            repository_id bigint NOT NULL REFERENCES digest_repositories (id) ON DELETE CASCADE,
            day date NOT NULL,
            markdown text NOT NULL,
            model text NOT NULL,
            commits integer NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (repository_id, day)
        );
        """,
    ),
)

_LOCK_KEY = 0x5BA2C7
"""Advisory lock id that serialises migrations across processes."""


async def migrate(conn: AsyncConnection, migrations: tuple[Migration, ...] = MIGRATIONS) -> list[int]:
    """Apply the migrations this database lacks; return the versions applied now."""
    applied_now: list[int] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        await conn.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version integer PRIMARY KEY,
                name text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """
        )
        cursor = await conn.execute("SELECT version FROM schema_migrations")
        done = {row[0] for row in await cursor.fetchall()}
        for migration in sorted(migrations, key=lambda m: m.version):
            if migration.version in done:
                continue
            await conn.execute(migration.sql)  # type: ignore[arg-type]
            await conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (migration.version, migration.name)
            )
            applied_now.append(migration.version)
    return applied_now
