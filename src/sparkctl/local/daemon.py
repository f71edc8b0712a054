"""`sparkctl local up --detach`: the stack under a supervisor process of its own, which outlives the command.

The command starts `python -m sparkctl.local.daemon` in a session of its own (its output in
data_dir/logs/supervisor.log) and waits. That process does what a foreground `up` does — claims the state file,
starts what is missing, restarts what crashes — and reports one JSON line at a time on a pipe: notices, then
`ready` (with warnings) or the error. The command shows each process's progress from the state file meanwhile.
`sparkctl local down` stops the supervisor first (SIGTERM), which stops the stack in order; SIGUSR1 asks it to
restart failed processes now.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from sparkctl import errors
from sparkctl.errors import ProcessError, SparkctlError
from sparkctl.local.checks import prepare_data_dir
from sparkctl.local.claims import recorded_options
from sparkctl.local.plan import StackOptions
from sparkctl.local.process import tail_lines
from sparkctl.local.signals import raise_interrupt, signals_ignored
from sparkctl.local.stack import LocalStack
from sparkctl.local.state import ORDER, SUPERVISOR_LOG, recorded_state, state_file
from sparkctl.local.status import ServiceView, record_view, recorded_views

API_KEY_ENV = "SPARKCTL_LOCAL_API_KEY"
"""How the API key reaches the supervisor: never on its command line, and not as SPARKCTL_API_KEYS, which every
service it starts would inherit."""
SUPERVISE_INTERVAL = 0.2

log = logging.getLogger("sparkctl.local.supervisor")


class DetachedStack:
    """The command's side of `up --detach`: start the supervisor process, relay its reports, show progress."""

    def __init__(self, options: StackOptions, state_path: Path | None = None) -> None:
        self.options = replace(options, data_dir=options.data_dir.expanduser().absolute(), detach=True)
        self.state_path = state_path or state_file()
        self.ready = False
        self._child: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.options.data_dir / "logs" / f"{SUPERVISOR_LOG}.log"

    def start(self, on_notice: Callable[[str], None]) -> list[str]:
        """Start the supervisor and return its warnings once the stack is ready; raise the error it reports."""
        prepare_data_dir(self.options.data_dir)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {name: value for name, value in os.environ.items() if name != API_KEY_ENV}
        if self.options.api_key is not None:
            env[API_KEY_ENV] = self.options.api_key
        reader, writer = os.pipe()
        argv = [
            sys.executable, "-m", "sparkctl.local.daemon",
            "--data-dir", str(self.options.data_dir), "--port", str(self.options.port),
            "--llm-url", self.options.llm_url, "--embedder", self.options.embedder,
            "--state", str(self.state_path), "--report-fd", str(writer),
        ]  # fmt: skip
        try:
            with self.log_path.open("ab") as output:
                self._child = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    env=env,
                    pass_fds=(writer,),
                    start_new_session=True,
                )
        finally:
            os.close(writer)
        with os.fdopen(reader) as reports:
            for line in reports:
                report = json.loads(line)
                if "notice" in report:
                    on_notice(str(report["notice"]))
                elif "error" in report:
                    self._wait()
                    raise _error(report["error"])
                elif "ready" in report:
                    self._ready()
                    return [str(warning) for warning in report["warnings"]]
        self._wait()
        tail = " | ".join(line.strip() for line in tail_lines(self.log_path, 5) if line.strip())
        raise ProcessError(
            f"the local stack's supervisor exited before the stack was ready: {tail or '(no output)'}",
            hint=f"See the whole log in {self.log_path}.",
        )

    def _wait(self) -> None:
        """Give the supervisor the time to stop what it started, after it reported."""
        if self._child is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._child.wait(60)

    def cancel(self) -> None:
        """Stop the supervisor (which stops what it started) and wait for it."""
        child = self._child
        if child is None or child.poll() is not None:
            return
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(120)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()

    def views(self) -> list[ServiceView]:
        """Each process as the state file shows it (health probed once the stack is ready)."""
        state = recorded_state(self.state_path)
        child = self._child
        waiting = [ServiceView(name, "waiting", None, None, None, None) for name in ORDER]
        if state is None:
            return waiting
        if self.ready:
            return recorded_views(state)
        if child is None or state.supervisor is None or state.supervisor.pid != child.pid:
            return waiting
        return [
            record_view(record, supervised=True, probe=False) if (record := state.service(view.name)) else view
            for view in waiting
        ]

    def _ready(self) -> None:
        self.ready = True
        state = recorded_state(self.state_path)
        if state is not None:
            self.options = recorded_options(state, self.options)


def _error(report: dict[str, Any]) -> SparkctlError:
    kind = getattr(errors, str(report.get("type", "")), None)
    if not (isinstance(kind, type) and issubclass(kind, SparkctlError)):
        kind = ProcessError
    return kind(str(report["message"]), hint=str(report.get("hint", "")))


def supervise(stack: LocalStack, report: IO[str]) -> int:
    """Claim, start and supervise the stack until SIGTERM, reporting on `report` until it is ready."""

    def send(**message: Any) -> None:
        with contextlib.suppress(OSError, ValueError):
            report.write(json.dumps(message) + "\n")
            report.flush()

    try:
        try:
            claim = stack.claim()
            for notice in claim.notices:
                send(notice=notice)
            if claim.retried:
                stack.await_recovery(claim)
                send(ready=True, warnings=[])
                return 0
            warnings = stack.start()
        except SparkctlError as error:
            log.error("%s (%s)", error.message, error.hint)
            send(error={"type": type(error).__name__, "message": error.message, "hint": error.hint})
            return 1
        log.info("the stack is ready; supervising it")
        send(ready=True, warnings=warnings)
        with contextlib.suppress(OSError):
            report.close()
        while not stack.finished:
            for event in stack.supervise():
                log.info("%s", event.message)
            time.sleep(SUPERVISE_INTERVAL)
        log.error("every process of the stack has failed; stopping")
        return 1
    except KeyboardInterrupt:
        log.info("stopping the stack")
        send(
            error={
                "type": "ProcessError",
                "message": "the local stack was stopped before it was ready (SIGTERM, as `sparkctl local down` sends)",
                "hint": "Start it again with `sparkctl local up`.",
            }
        )
        return 0
    finally:
        with signals_ignored():
            stack.stop()
        log.info("stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sparkctl.local.daemon", description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--llm-url", required=True)
    parser.add_argument("--embedder", choices=("llm", "hash"), required=True)
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--report-fd", type=int, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(levelname)s supervisor: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    options = StackOptions(
        args.data_dir, args.port, args.llm_url, args.embedder, os.environ.pop(API_KEY_ENV, None), detach=True
    )
    stack = LocalStack(options, args.state)
    signal.signal(signal.SIGTERM, raise_interrupt)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGUSR1, lambda signum, frame: stack.request_retry())
    report = os.fdopen(args.report_fd, "w")
    try:
        return supervise(stack, report)
    finally:
        with contextlib.suppress(OSError):
            report.close()


if __name__ == "__main__":
    sys.exit(main())
