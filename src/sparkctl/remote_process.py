"""Running a command over SSH so that it can be stopped: sshd signals nothing when a channel closes, so each
command starts by reporting its pid (which leads the session and process group sshd made for it), and a second
command stops that process tree when the first overran or was interrupted."""

from __future__ import annotations

from typing import Protocol

from sparkctl.hosts import StreamDecoder

REPORT_PID = 'printf "%s\\n" "$$" && exec "$@"'
"""Run by `sh -c` in place of the login shell: the first line on stdout is the pid, then the command runs as it is."""

STOP_SCRIPT = """\
leader=$1
if ! command -v ps >/dev/null 2>&1; then
  kill -TERM -"$leader" 2>/dev/null; sleep 2; kill -KILL -"$leader" 2>/dev/null; exit 0
fi
snapshot() {
  ps -e -o pid= -o ppid= -o pgid= -o stat= | awk -v leader="$leader" '
    { parent[$1] = $2; group[$1] = $3; state[$1] = $4 }
    END {
      found[leader] = 1
      do {
        grew = 0
        for (p in parent)
          if (!(p in found) && (parent[p] in found || group[p] == leader)) { found[p] = 1; grew = 1 }
      } while (grew)
      for (p in found) if ((p in state) && state[p] !~ /^Z/) print p
    }'
}
alive() {
  ps -e -o pid= -o pgid= -o stat= | awk -v leader="$leader" -v listed=" $(echo $pids) " '
    $3 !~ /^Z/ && ($2 == leader || index(listed, " " $1 " ")) { print $1 }'
}
settle() {
  n=0
  while [ -n "$(alive)" ] && [ "$n" -lt "$1" ]; do sleep 0.1; n=$((n + 1)); done
}
pids=$(snapshot)
[ -n "$pids" ] || exit 0
kill -TERM -"$leader" $pids 2>/dev/null
settle 20
left=$(alive)
[ -n "$left" ] || exit 0
kill -KILL -"$leader" $left 2>/dev/null
settle 10
left=$(alive)
[ -z "$left" ] || { echo "still running after SIGKILL:" $left >&2; exit 1; }
"""
"""Stops the process tree and process group led by pid $1: SIGTERM, then SIGKILL to what is left after 2 s.

The tree is read before any signal, so children that left the group (setsid, or sudo's own pty) are found too.
"""


class Sink(Protocol):
    def feed(self, data: bytes) -> None: ...


class PidThenOutput:
    """stdout of a command started by `REPORT_PID`: its first line is the pid, the rest goes to `decoder`."""

    def __init__(self, decoder: StreamDecoder) -> None:
        self.decoder = decoder
        self.pid: int | None = None
        self._head = b""
        self._passing = False

    @property
    def waiting(self) -> bool:
        """Still before the end of the first line."""
        return not self._passing

    def feed(self, data: bytes) -> None:
        if self._passing:
            self.decoder.feed(data)
            return
        self._head += data
        line, newline, rest = self._head.partition(b"\n")
        if not newline and len(self._head) <= 20:
            return
        self._passing = True
        if newline and line.isdigit() and int(line) > 1:
            self.pid = int(line)
            self._head = rest
        if self._head:
            self.decoder.feed(self._head)
        self._head = b""

    def finish(self) -> None:
        """The command's output ended: whatever was held back is output."""
        self._passing = True
        if self._head:
            self.decoder.feed(self._head)
            self._head = b""
