"""A real multi-node Ray cluster on this machine, started the way Ray documents (``ray start
--head``, then ``ray start --address`` for each worker node), for tests and benchmarks.

Every node is a ``ray start --block`` process in a process group of its own: stopping a node (or
killing it, to test a node that dies) signals that process group (the node's raylet, object
store and agents) and every process under it (Ray gives each worker process running tasks a
process group of its own). Ray's session
files go to a temporary folder removed at the end. Every port is picked free, so two clusters
(two test runs) on one machine never meet.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STARTED = "Ray runtime started"
OBJECT_STORE = 100 * 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _own_group() -> dict:
    """Popen arguments for a process group of its own inside this session (a new session would
    also be a scheduling group of its own under Linux's autogroup, and get a share of the CPUs
    that local worker processes, in this session, do not: benchmarks would compare unfairly)."""
    if sys.version_info >= (3, 11):
        return {"process_group": 0}
    return {"preexec_fn": os.setpgrp}


def ray_cli() -> str:
    return str(Path(sys.executable).with_name("ray"))


class Node:
    def __init__(self, proc: subprocess.Popen, log: Path) -> None:
        self.proc = proc
        self.log = log

    @property
    def pgid(self) -> int:
        return self.proc.pid  # the leader of its own process group

    def members(self) -> list[int]:
        """The live processes of this node: its process group and their descendants (Ray
        puts each worker process in a process group of its own, under the node's raylet)."""
        procs: dict[int, tuple[int, int]] = {}  # pid: (parent, process group)
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                procs[int(entry.name)] = (int(fields[1]), int(fields[2]))
        out = {pid for pid, (_, group) in procs.items() if group == self.pgid}
        grew = True
        while grew:
            more = {pid for pid, (parent, _) in procs.items() if parent in out} - out
            out |= more
            grew = bool(more)
        return sorted(out)

    def running(self, title: bytes) -> list[int]:
        """Processes of this node whose title starts with ``title`` (Ray names a worker
        process ``ray::FUNCTION`` while it runs a task of FUNCTION)."""
        out = []
        for pid in self.members():
            try:
                if (Path("/proc") / str(pid) / "cmdline").read_bytes().startswith(title):
                    out.append(pid)
            except OSError:
                continue
        return out

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal every process of the node at once (SIGKILL: as if its machine died)."""
        for pid in self.members():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, timeout: float = 10.0) -> None:
        """Kill the node's processes (a test cluster keeps nothing worth a clean shutdown)."""
        self.kill(signal.SIGKILL)
        self.proc.wait(timeout=timeout)
        end = time.monotonic() + timeout
        while self.members() and time.monotonic() < end:
            time.sleep(0.05)


class LocalCluster:
    """``nodes`` nodes of ``cpus`` CPUs each: a head and ``nodes - 1`` workers, all on
    127.0.0.1. ``address`` is what ``ray start --address`` and ``ray.init`` take;
    ``client_address`` the Ray Client's ``ray://`` address."""

    def __init__(self, nodes: int = 2, cpus: int = 1, root: Path | None = None) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="jbt-ray-", dir=root))
        self.port = free_port()
        self.client_port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.client_address = f"ray://127.0.0.1:{self.client_port}"
        self.cpus = cpus
        self.nodes: list[Node] = []
        self.env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
        self.env.pop("RAY_ADDRESS", None)
        try:
            self.nodes.append(self._start("head", [
                "--head", f"--port={self.port}", f"--ray-client-server-port={self.client_port}",
                "--include-dashboard=false", f"--dashboard-port={free_port()}",
                f"--temp-dir={self.root / 'ray'}",
            ]))
            for i in range(nodes - 1):
                self.add_node(f"worker{i + 1}")
        except BaseException:
            self.stop()
            raise

    def _node_ports(self) -> list[str]:
        return [f"--node-manager-port={free_port()}", f"--object-manager-port={free_port()}",
                f"--dashboard-agent-listen-port={free_port()}",
                f"--dashboard-agent-grpc-port={free_port()}",
                f"--runtime-env-agent-port={free_port()}",
                f"--metrics-export-port={free_port()}"]

    def add_node(self, name: str | None = None) -> Node:
        name = name or f"worker{len(self.nodes)}"
        node = self._start(name, [f"--address={self.address}"])
        self.nodes.append(node)
        return node

    def _start(self, name: str, args: list[str]) -> Node:
        log = self.root / f"{name}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [ray_cli(), "start", "--block", "--node-ip-address=127.0.0.1",
                 f"--num-cpus={self.cpus}", f"--object-store-memory={OBJECT_STORE}",
                 "--disable-usage-stats", *self._node_ports(), *args],
                stdout=out, stderr=subprocess.STDOUT, env=self.env, cwd=self.root,
                **_own_group(),
            )
        node = Node(proc, log)
        deadline = time.monotonic() + 90
        while STARTED not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                node.stop()
                raise RuntimeError(f"ray start ({name}) failed:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        return node

    @property
    def head(self) -> Node:
        return self.nodes[0]

    def stop(self) -> None:
        for node in reversed(self.nodes):
            node.stop()
        shutil.rmtree(self.root, ignore_errors=True)
