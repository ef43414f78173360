"""Where a `pulumi` command's time goes: checkpoint writes, CPU per process, as bench.engine measures it.

- `CheckpointWatch`: every file the file backend finishes writing under its `.pulumi/stacks` folder,
  seen through Linux inotify (IN_CLOSE_WRITE, IN_MOVED_TO: the backend may write a temporary file and
  rename it), with the file's size when the event is read. That counts the checkpoint writes exactly
  and their bytes closely (a file rewritten again before the event is read is sized once more).
- `CpuSampler`: the CPU time (user + system, /proc/<pid>/stat) of every process below the `pulumi`
  process, by kind (the engine, the Python language host and program, the mrgov provider), and of
  the MLflow server's process group. It samples every 0.25 s and keeps each process's last figure,
  so a process that exits between samples loses at most its last 0.25 s.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path

_IN_CLOSE_WRITE, _IN_MOVED_TO, _IN_CREATE = 0x008, 0x080, 0x100
_EVENT = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len (then the name)
_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class CheckpointWatch:
    """Counts the files written under `root` (recursively, folders made later included) while open."""

    root: Path
    writes: int = 0
    bytes: int = 0
    by_suffix: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> CheckpointWatch:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        self._libc = libc
        self._fd = libc.inotify_init()
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init failed")
        self._dirs: dict[int, Path] = {}
        for folder in [self.root, *(p for p in self.root.rglob("*") if p.is_dir())]:
            self._watch(folder)
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def _watch(self, folder: Path) -> None:
        mask = _IN_CLOSE_WRITE | _IN_MOVED_TO | _IN_CREATE
        wd = self._libc.inotify_add_watch(self._fd, os.fsencode(folder), mask)
        if wd >= 0:
            self._dirs[wd] = folder

    def _loop(self) -> None:
        # Keep reading after stop() until the queue is empty, so no late event is lost.
        while True:
            ready, _, _ = select.select([self._fd], [], [], 0.1)
            if not ready:
                if self._stop.is_set():
                    return
                continue
            data = os.read(self._fd, 65536)
            offset = 0
            while offset < len(data):
                wd, mask, _, length = _EVENT.unpack_from(data, offset)
                raw = data[offset + _EVENT.size : offset + _EVENT.size + length]
                offset += _EVENT.size + length
                path = self._dirs.get(wd, self.root) / os.fsdecode(raw.rstrip(b"\0"))
                if mask & _IN_CREATE:
                    if path.is_dir():
                        self._watch(path)
                    continue
                self._count(path)

    def _count(self, path: Path) -> None:
        if ".tmp" in path.name or path.name.startswith("."):
            return  # the temporary half of a write-then-rename: its rename is counted
        with contextlib.suppress(OSError):
            self.bytes += path.stat().st_size
        self.writes += 1
        suffix = "".join(path.suffixes[-2:]) or path.name
        self.by_suffix[suffix] = self.by_suffix.get(suffix, 0) + 1

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        os.close(self._fd)


def _stat(pid: int) -> tuple[int, int, float] | None:
    """(ppid, pgid, CPU seconds) of a process, or None once it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # the command name may hold spaces and parentheses
    return int(fields[1]), int(fields[2]), (int(fields[11]) + int(fields[12])) / _TICKS


def _kind(pid: int) -> str:
    """Which part of a `pulumi` command a process is, from its command line."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "other"
    words = [os.fsdecode(a) for a in argv if a]
    if not words:
        return "other"
    name = os.path.basename(words[0])
    line = " ".join(words)
    if name == "pulumi":
        return "engine"
    if "pulumi-resource-mrgov" in line or "-m provider" in line:
        return "provider"
    if "pulumi-language-python" in line or "langhost" in line or "__main__" in line:
        return "program"
    if "pulumi-resource" in name:
        return "other_plugins"
    return "other"


@dataclass
class CpuSampler:
    """CPU seconds by kind of process below `root_pid`, and of process group `server_pgid`."""

    server_pgid: int
    interval: float = 0.25
    root_pid: int = 0
    _seen: dict[int, tuple[str, float]] = field(default_factory=dict)
    _server_start: float = 0.0
    _server_end: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _server_cpu(self) -> float:
        total = 0.0
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                st = _stat(int(entry.name))
                if st is not None and st[1] == self.server_pgid:
                    total += st[2]
        return total

    def _sample(self) -> None:
        if not self.root_pid:
            return
        parents: dict[int, int] = {}
        cpu: dict[int, float] = {}
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                st = _stat(int(entry.name))
                if st is not None:
                    parents[int(entry.name)], cpu[int(entry.name)] = st[0], st[2]
        for pid in cpu:
            walk, depth = pid, 0
            while walk and walk != self.root_pid and depth < 32:
                walk, depth = parents.get(walk, 0), depth + 1
            if walk == self.root_pid:
                kind = self._seen[pid][0] if pid in self._seen else _kind(pid)
                self._seen[pid] = (kind, cpu[pid])

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def start(self, root_pid: int) -> None:
        """Start sampling the tree below `root_pid` (the `pulumi` process just started)."""
        self.root_pid = root_pid
        self._server_start = self._server_cpu()
        self._sample()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server_end = self._server_cpu()

    def by_kind(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for kind, seconds in self._seen.values():
            out[kind] = out.get(kind, 0.0) + seconds
        out["server"] = self._server_end - self._server_start
        return {k: round(v, 2) for k, v in sorted(out.items())}
