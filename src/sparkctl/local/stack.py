"""The GraphRAG stack as local processes, started and supervised by this process.

PostgreSQL, Redis and NATS start one after the other; LightRAG, the preprocessor and the orchestrator then
start together (they only need the servers, and starting them at once halves the wait on two cores); the
worker comes last, so that jobs queued by an earlier run find every service up. Each process is recorded in
the state file (see state.py) as soon as it exists; once all answer, the supervisor (see supervisor.py)
restarts any that crashes.

`claim` decides what this run does with the state file it finds (see claims.py): start afresh (none, or a stale
one); resume a stack whose supervisor has gone (adopt what still runs, start what does not); ask a live supervisor
to restart what is down; or refuse a healthy stack.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from sparkctl.catalog import load_catalog
from sparkctl.errors import ConfigError
from sparkctl.local.checks import check_embedder, check_orchestrator_port, llm_warning, prepare_data_dir
from sparkctl.local.claims import (
    RECOVERY_TIMEOUT,
    Claim,
    already_running,
    ask_supervisor,
    await_recovery,
    locked,
    recorded_options,
)
from sparkctl.local.plan import (
    SERVER_PORTS,
    StackOptions,
    build_processes,
    distinct_free_ports,
    service_env,
)
from sparkctl.local.process import ManagedProcess, describe_exit, start_ticks
from sparkctl.local.state import (
    ORDER,
    SERVERS,
    SERVICES,
    ProcessRecord,
    StackState,
    read_state,
    remove_state,
    state_file,
    stop_stack,
    write_state,
)
from sparkctl.local.status import ServiceView, probe_health
from sparkctl.local.supervisor import (
    FAILED,
    RESTARTING,
    RUNNING,
    STARTING,
    STOPPED,
    RestartPolicy,
    SupervisionEvent,
    Supervisor,
)

__all__ = ["LocalStack", "StackOptions", "service_env"]

HEALTH_INTERVAL = 10.0
"""Seconds between health probes of a running stack's table (each probe is a line in the service's log)."""


class LocalStack:
    """One `sparkctl local up`: claim the state file, start what is missing, supervise, report, stop."""

    def __init__(self, options: StackOptions, state_path: Path | None = None, policy: RestartPolicy | None = None):
        self.options = replace(options, data_dir=options.data_dir.expanduser().absolute())
        self.state_path = state_path or state_file()
        self._processes: dict[str, ManagedProcess] = {}
        self._phase: dict[str, str] = dict.fromkeys(ORDER, "waiting")
        self._health: dict[str, tuple[float, bool]] = {}
        self._lock = threading.Lock()
        self._abort = threading.Event()
        self._state: StackState | None = None
        self._records: dict[str, ProcessRecord] = {}
        self._earlier: dict[str, ProcessRecord] = {}
        self._adopted: set[str] = set()
        self._released = False
        self._started = False
        self._supervisor = Supervisor(
            self._processes,
            policy,
            order=ORDER,
            on_spawn=self._spawned,
            on_change=self._supervision_changed,
            abort=self._abort,
        )

    def claim(self) -> Claim:
        """Check what can be checked before starting, and take the state file for this run.

        Raises when a healthy stack runs already (or is being started), the data directory is not writable or
        the orchestrator's port is taken.
        """
        with locked(self.state_path):
            notices: list[str] = []
            try:
                state = read_state(self.state_path)
            except ConfigError as error:
                remove_state(self.state_path)
                notices.append(f"removed an unreadable state file: {error.message}")
                state = None
            if state is not None and state.stale:
                remove_state(self.state_path)
                notices.append(
                    f"removed the stale state file {self.state_path}: the stack started {state.started_at} is no "
                    "longer running (it ended without `sparkctl local down`)"
                )
                state = None
            if state is not None and state.supervised:
                return ask_supervisor(state, self.state_path, notices)
            if state is not None and state.ready and all(state.service(name) for name in ORDER):
                return self._resume(state, notices)
            if state is not None:
                stop_stack(self.state_path)
                notices.append(
                    f"stopped what was left of the stack started {state.started_at}, whose start was cut short"
                )
            self._claim_fresh()
            return Claim(notices)

    def _claim_fresh(self) -> None:
        prepare_data_dir(self.options.data_dir)
        check_orchestrator_port(self.options.port)
        ports = distinct_free_ports(len(SERVER_PORTS), exclude={self.options.port})
        self._build(dict(zip(SERVER_PORTS, ports, strict=True)))
        self._state = StackState(
            data_dir=self.options.data_dir,
            endpoint=self.options.endpoint,
            embedder=self.options.embedder,
            llm_url=self.options.llm_url,
            api_key=self.options.api_key is not None,
            detached=self.options.detach,
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            supervisor=_me(),
        )
        try:
            write_state(self._state, self.state_path, exclusive=True)
        except FileExistsError:
            raise already_running(read_state(self.state_path), self.state_path) from None

    def _resume(self, state: StackState, notices: list[str]) -> Claim:
        """Adopt the recorded processes that still run; `start` then starts the others."""
        if state.api_key and self.options.api_key is None:
            raise ConfigError(
                f"the local stack at {state.endpoint} requires an API key, and none was given to pass on to it",
                hint="Give the same key again with --api-key or SPARKCTL_API_KEYS.",
            )
        if not state.api_key and self.options.api_key is not None:
            raise ConfigError(
                f"the local stack at {state.endpoint} runs without an API key",
                hint="Leave out --api-key (and SPARKCTL_API_KEYS), or start it afresh with one after "
                "`sparkctl local down`.",
            )
        self.options = recorded_options(state, self.options)
        prepare_data_dir(self.options.data_dir)
        self._build({name: record.port for name in ORDER if (record := state.service(name)) and record.port})
        for name in ORDER:
            record = state.service(name)
            assert record is not None
            self._earlier[name] = self._records[name] = record
            self._processes[name].adopt(record.pid, record.start_ticks)
            if record.alive:
                self._adopted.add(name)
                self._phase[name] = RUNNING
        down = [name for name in ORDER if name not in self._adopted]
        self._state = replace(state, detached=self.options.detach, supervisor=_me())
        self._save()
        gone = "its supervisor had exited"
        if down:
            gone += f" and {', '.join(down)} {'is' if len(down) == 1 else 'are'} down"
        notices.append(f"resuming the local stack at {state.endpoint} (data in {state.data_dir}): {gone}")
        return Claim(notices, adopted=tuple(sorted(self._adopted, key=ORDER.index)))

    def await_recovery(self, claim: Claim, timeout: float = RECOVERY_TIMEOUT) -> None:
        """Wait until the live supervisor has brought back what `claim` found down; ProcessError if it does not."""
        self._state = await_recovery(self.state_path, claim, timeout)

    def start(self) -> list[str]:
        """Start every process that does not run, in order; return warnings (no LLM server).

        On a failure, stop what this run started: everything for a fresh stack, the missing part for a resumed one.
        """
        if self._state is None:
            raise RuntimeError("claim() the stack before starting it")
        with ThreadPoolExecutor(max_workers=len(SERVICES)) as pool:
            llm = pool.submit(llm_warning, self.options.llm_url, self.options.embedder)
            try:
                if self.options.embedder == "llm":
                    check_embedder(self.options.llm_url, load_catalog())
                for name in SERVERS:
                    self._start_one(name)
                self._start_together(pool, SERVICES[:-1])
                self._start_one("worker")
            except BaseException:
                self._abort.set()
                pool.shutdown(wait=True, cancel_futures=True)
                self._give_up()
                raise
            warning = llm.result()
        with self._lock:
            for name in ORDER:
                record = self._records[name]
                self._supervisor.watch(
                    name, restarts=record.restarts, last_exit=record.last_exit, exited_at=record.exited_at
                )
            self._started = True
            self._state.ready = True
            self._save()
        return [warning] if warning else []

    def supervise(self) -> list[SupervisionEvent]:
        """One round of supervision: call it every fraction of a second, from the thread that will stop the stack."""
        return self._supervisor.check()

    def request_retry(self) -> None:
        """Restart failed and waiting processes at the next round (safe from a signal handler)."""
        self._supervisor.request_retry()

    def stop(self) -> None:
        """Stop every process in reverse order, then remove the state file if it is still this run's."""
        if self._released:
            return
        self._supervisor.stop_all()
        for name in reversed(ORDER):
            process = self._processes.get(name)
            if process is None or (self._phase[name] == "waiting" and name not in self._adopted):
                continue
            exited = process.exit_code
            if self._phase[name] == RUNNING and exited is not None:
                self._phase[name] = f"exited ({exited})"
            elif self._phase[name] != FAILED:
                self._phase[name] = "stopping"
            process.stop()
            if self._phase[name] == "stopping":
                self._phase[name] = STOPPED
        self._release()

    @property
    def ready(self) -> bool:
        """True once `start` has every process running and answering."""
        return self._started

    @property
    def finished(self) -> bool:
        """True once nothing runs and nothing will be restarted."""
        return self._supervisor.finished

    def views(self) -> list[ServiceView]:
        return [self._view(name) for name in ORDER]

    def _build(self, ports: dict[str, int]) -> None:
        self._processes.clear()
        self._processes.update(build_processes(self.options, ports))

    def _start_one(self, name: str) -> None:
        process = self._processes[name]
        if name in self._adopted and process.running:
            return
        earlier = self._earlier.get(name)
        if earlier is not None:
            noticed = earlier.state in (RESTARTING, FAILED)
            self._records[name] = replace(
                earlier,
                restarts=earlier.restarts + 1,
                last_exit=earlier.last_exit if noticed else describe_exit(process.reap()),
                exited_at=earlier.exited_at if noticed else None,
            )
        self._adopted.discard(name)
        self._phase[name] = STARTING
        try:
            process.start(on_spawn=self._spawned, abort=self._abort)
        except BaseException:
            self._phase[name] = FAILED
            raise
        self._phase[name] = RUNNING
        with self._lock:
            self._records[name] = replace(self._records[name], state=RUNNING)
            self._save()

    def _start_together(self, pool: ThreadPoolExecutor, names: Iterable[str]) -> None:
        """Start these at once; the first to fail cancels the others and is the error raised."""
        futures: list[Future[None]] = [pool.submit(self._start_one, name) for name in names]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = next((future for future in done if future.exception() is not None), None)
        if failed is None:
            return
        self._abort.set()
        wait(futures)
        raise failed.exception()  # type: ignore[misc]

    def _give_up(self) -> None:
        """A start that failed: a fresh stack stops entirely; a resumed one keeps what it adopted, unsupervised."""
        if not self._earlier:
            self.stop()
            return
        for name in reversed(ORDER):
            if name not in self._adopted and self._phase[name] != "waiting":
                self._processes[name].stop()
        with self._lock:
            if self._state is not None:
                self._state.supervisor = None
                self._state.ready = True
                self._save()
        self._released = True

    def _spawned(self, process: ManagedProcess) -> None:
        pid = process.pid
        if pid is None or self._state is None:
            return
        spec = process.spec
        watched = self._supervisor.state(spec.name)
        before = self._records.get(spec.name)
        record = ProcessRecord(
            name=spec.name,
            pid=pid,
            start_ticks=start_ticks(pid) or 0,
            port=spec.port,
            log=spec.log_path,
            stop_signal=spec.stop_signal.name,
            stop_timeout=spec.stop_timeout,
            state=STARTING,
            restarts=watched.restarts if watched else before.restarts if before else 0,
            last_exit=watched.last_exit if watched else before.last_exit if before else None,
            exited_at=watched.exited_at if watched else before.exited_at if before else None,
        )
        with self._lock:
            self._records[spec.name] = record
            self._save()

    def _supervision_changed(self, name: str) -> None:
        watched = self._supervisor.state(name)
        record = self._records.get(name)
        if watched is None or record is None or self._state is None:
            return
        with self._lock:
            self._records[name] = replace(
                record,
                state=watched.state,
                restarts=watched.restarts,
                last_exit=watched.last_exit,
                exited_at=watched.exited_at,
            )
            self._save()

    def _save(self) -> None:
        assert self._state is not None
        self._state.services = [self._records[name] for name in ORDER if name in self._records]
        write_state(self._state, self.state_path)

    def _release(self) -> None:
        self._released = True
        try:
            current = read_state(self.state_path)
        except ConfigError:
            return
        if current is not None and current.supervisor is not None and current.supervisor.pid == os.getpid():
            remove_state(self.state_path)

    def _view(self, name: str) -> ServiceView:
        process = self._processes.get(name)
        if process is None:
            return ServiceView(name, self._phase[name], None, None, None, None)
        record = self._records.get(name)
        watched = self._supervisor.state(name)
        phase, healthy = self._phase[name], None
        if watched is not None and phase not in ("stopping", STOPPED):
            phase = watched.state
            restarts, last_exit, exited_at = watched.restarts, watched.last_exit, watched.exited_at
        else:
            restarts = record.restarts if record else 0
            last_exit, exited_at = (record.last_exit, record.exited_at) if record else (None, None)
        if phase == RUNNING and not process.running:
            phase = f"exited ({process.exit_code})" if watched is None else "dead"
        elif phase == RUNNING:
            healthy = self._cached_health(name, process.spec.port)
        return ServiceView(
            name, phase, process.spec.port, process.pid, healthy, process.spec.log_path, restarts, last_exit, exited_at
        )

    def _cached_health(self, name: str, port: int | None) -> bool:
        checked, healthy = self._health.get(name, (0.0, False))
        if time.monotonic() - checked >= HEALTH_INTERVAL:
            healthy = probe_health(name, port)
            self._health[name] = (time.monotonic(), healthy)
        return healthy


def _me() -> ProcessRecord:
    me = os.getpid()
    return ProcessRecord("supervisor", me, start_ticks(me) or 0)
