"""How the processes that run the local stack (a foreground `local up`, the detached supervisor) treat signals:
SIGTERM from `sparkctl local down` and SIGHUP stop the stack as Ctrl-C does, and an orderly stop is not cut short."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator


def raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """SIGTERM (from `sparkctl local down`) and SIGHUP (terminal closed) raise KeyboardInterrupt, as Ctrl-C does."""
    previous = {sig: signal.signal(sig, raise_interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def signals_ignored() -> Iterator[None]:
    """An orderly stop runs to its end, whatever signal comes meanwhile."""
    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
