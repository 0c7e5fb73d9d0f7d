"""A RabbitMQ cluster of its own on this machine: N nodes of Debian's rabbitmq-server on loopback.

    python -m scripts.rabbit_cluster up [--nodes 3]   # start, print the AMQP URL, wait for Enter
    RabbitCluster(3) as a context manager            # what tests/ops/ uses (fixture ``rabbit_cluster``)

Each node has its own name (``suqiu-<random>-<n>@localhost``), AMQP port and Erlang
distribution port (free ports picked now), its data and logs under a temporary directory,
no plugins (management off), and the cluster's own Erlang cookie (``HOME`` of the nodes and
of ``rabbitmqctl`` is a folder of the cluster's, holding ``.erlang.cookie``); they register
with the machine's epmd like any node. Nodes 2..N join node 1 with ``rabbitmqctl join_cluster``.
The machine's own node (5672) is never touched.

:meth:`RabbitCluster.url` is the failover URL every client of the mesh takes:
``amqp://guest:guest@127.0.0.1:P1/;amqp://guest:guest@127.0.0.1:P2/;...`` (kombu tries the
nodes in turn; ``shared.outbox.OutboxPublisher`` too). :meth:`stop_node` stops one node
(``rabbitmqctl stop``), :meth:`start_node` brings it back on its data. :meth:`close` stops
every node and kills what is left of them by pid (also when the start failed half way),
then removes the directory.

As root the nodes run as the ``rabbitmq`` user (RabbitMQ refuses root). Without
rabbitmq-server (``/usr/lib/rabbitmq/bin``, ``RABBIT_BIN``) :class:`RabbitMissing` says what
to install.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import string
import subprocess
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

from shared.ports import free_port

RABBIT_BIN = Path(os.environ.get("RABBIT_BIN", "/usr/lib/rabbitmq/bin"))
USER = "rabbitmq"
# the nodes share two cores with everything else: no busy-waiting schedulers, one of each
ERL_ARGS = "+S 1:1 +sbwt none +sbwtdcpu none +sbwtdio none"


class RabbitMissing(RuntimeError):
    """rabbitmq-server is not installed here."""


class ClusterError(RuntimeError):
    """The cluster could not be formed; the message says which step failed and where the logs are."""


def require_rabbitmq_server() -> None:
    missing = [name for name in ("rabbitmq-server", "rabbitmqctl") if not (RABBIT_BIN / name).exists()]
    if missing:
        raise RabbitMissing(f"{', '.join(missing)} not found in {RABBIT_BIN}: install Debian's rabbitmq-server "
                            "(apt-get install rabbitmq-server) or set RABBIT_BIN to its bin directory")
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam(USER)
        except KeyError:
            raise RabbitMissing(f"running as root but there is no {USER!r} user to run the nodes as "
                                "(Debian's rabbitmq-server package creates it)") from None


def _free_port(limit: int = 65535) -> int:
    """A free loopback port ``p`` with ``p + 10010 <= limit``: rabbitmqctl takes its own distribution
    port in ``RABBITMQ_DIST_PORT + 10000 .. + 10010``."""
    return free_port(below=limit - 10010)


def _as_rabbit() -> list[str]:
    return ["runuser", "-u", USER, "--"] if os.geteuid() == 0 else []


class RabbitNode:
    """One node of the cluster (its name, ports, folders and environment)."""

    def __init__(self, folder: Path, name: str, home: Path):
        self.folder = folder
        self.name = name
        self.port = _free_port()
        self.dist_port = _free_port()
        while self.dist_port == self.port:
            self.dist_port = _free_port()
        self.pid_file = folder / "pid"
        self._pid: int | None = None  # read once the node is up: ``rabbitmqctl stop`` removes the file
        (folder / "mnesia").mkdir(parents=True)
        (folder / "log").mkdir()
        (folder / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\n"
            "disk_free_limit.absolute = 50MB\n"
            "loopback_users.guest = true\n")
        (folder / "enabled_plugins").write_text("[].\n")
        (folder / "rabbitmq-env.conf").write_text("ERL_EPMD_ADDRESS=127.0.0.1\n")
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "HOME": str(home),  # .erlang.cookie: the cluster's own, for the nodes and rabbitmqctl
            "RABBITMQ_NODENAME": name, "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"), "RABBITMQ_LOG_BASE": str(folder / "log"),
            "RABBITMQ_PID_FILE": str(self.pid_file),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(folder / "rabbitmq.conf"),
            "RABBITMQ_CONF_ENV_FILE": str(folder / "rabbitmq-env.conf"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": ERL_ARGS,
            "ERL_FLAGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def url(self, vhost: str = "/") -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/{quote(vhost, safe='')}"

    def _run(self, program: str, *args: str, timeout: float, check: bool) -> subprocess.CompletedProcess:
        # env after runuser: runuser sets HOME to the user's own otherwise
        command = [*_as_rabbit(), "env", *(f"{k}={v}" for k, v in self.env.items()), str(RABBIT_BIN / program),
                   *args]
        done = subprocess.run(command, cwd=self.folder, capture_output=True, text=True, timeout=timeout,
                              env={"PATH": self.env["PATH"]})
        if check and done.returncode != 0:
            raise ClusterError(f"{program} {' '.join(args)} on {self.name} failed ({done.returncode}): "
                               f"{(done.stderr or done.stdout)[-1500:]}; logs in {self.folder / 'log'}")
        return done

    def ctl(self, *args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
        return self._run("rabbitmqctl", "-n", self.name, *args, timeout=timeout, check=check)

    def launch(self) -> None:
        """``rabbitmq-server -detached``: returns at once; :meth:`await_startup` waits for it."""
        self._run("rabbitmq-server", "-detached", timeout=60, check=True)

    def await_startup(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while True:  # the node registers with epmd a moment after -detached returns
            done = self.ctl("await_startup", "--timeout", "30", check=False, timeout=45)
            if done.returncode == 0:
                self._pid = self._read_pid() or self._pid
                return
            if time.monotonic() > deadline:
                raise ClusterError(f"node {self.name} did not start in {timeout:.0f}s: "
                                   f"{(done.stderr or done.stdout)[-1500:]}; logs in {self.folder / 'log'}")
            time.sleep(0.5)

    def start(self, timeout: float = 120) -> None:
        self.launch()
        self.await_startup(timeout)

    def stop(self) -> None:
        """A clean stop (``rabbitmqctl stop``): the node leaves, its data stays."""
        self.ctl("stop", check=False, timeout=90)
        self._wait_gone(30)

    def _read_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def pid(self) -> int | None:
        """The node's VM (from its pid file, kept from the last start)."""
        return self._read_pid() or self._pid

    def alive(self) -> bool:
        pid = self.pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def _wait_gone(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while self.alive():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)
        return True

    def kill(self) -> None:
        """What is left of the node's VM after a stop: killed by its pid (never by name)."""
        pid = self.pid()
        if pid is not None and self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            self._wait_gone(10)


class RabbitCluster:
    """``size`` RabbitMQ nodes joined in one cluster (see the module's docstring)."""

    def __init__(self, size: int = 3, prefix: str | None = None):
        require_rabbitmq_server()
        if size < 1:
            raise ValueError("a cluster has at least one node")
        self.size = size
        self.prefix = prefix or f"suqiu-{uuid.uuid4().hex[:8]}"
        self.folder = Path(tempfile.mkdtemp(prefix=f"{self.prefix}-"))
        self.folder.chmod(0o755)
        home = self.folder / "home"
        home.mkdir()
        cookie = home / ".erlang.cookie"
        cookie.write_text("".join(secrets.choice(string.ascii_uppercase) for _ in range(32)))
        cookie.chmod(0o400)
        self.nodes = [RabbitNode(self.folder / f"node{n}", f"{self.prefix}-{n}@localhost", home)
                      for n in range(1, size + 1)]
        if os.geteuid() == 0:
            for path in [self.folder, *self.folder.rglob("*")]:
                shutil.chown(path, USER, USER)

    # ------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 150) -> RabbitCluster:
        """Start every node (together), join nodes 2..N to node 1, check the cluster sees them all."""
        try:
            with ThreadPoolExecutor(self.size) as pool:
                list(pool.map(lambda node: node.launch(), self.nodes))
                list(pool.map(lambda node: node.await_startup(timeout), self.nodes))
            first = self.nodes[0]
            for node in self.nodes[1:]:
                node.ctl("stop_app")
                node.ctl("join_cluster", first.name, timeout=120)
                node.ctl("start_app", timeout=120)
                node.await_startup(timeout)
            running = self.running_nodes()
            if sorted(running) != sorted(node.name for node in self.nodes):
                raise ClusterError(f"the cluster runs {running}, not {[node.name for node in self.nodes]}")
        except BaseException:
            self.close()
            raise
        return self

    def close(self, keep_logs: Path | None = None) -> None:
        """Stop every node, kill what is left by pid, remove the directory (safe to call twice);
        the nodes' logs are copied to ``keep_logs`` first when given."""
        if not self.folder.exists():
            return
        with ThreadPoolExecutor(self.size) as pool:
            list(pool.map(self._stop_quietly, self.nodes))
        for node in self.nodes:
            node.kill()
        if keep_logs is not None:
            for node in self.nodes:
                shutil.copytree(node.folder / "log", Path(keep_logs) / node.name.split("@")[0], dirs_exist_ok=True)
        shutil.rmtree(self.folder, ignore_errors=True)

    @staticmethod
    def _stop_quietly(node: RabbitNode) -> None:
        if node.alive():
            with contextlib.suppress(subprocess.TimeoutExpired):
                node.ctl("stop", check=False, timeout=60)
            node._wait_gone(15)

    def __enter__(self) -> RabbitCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------ use
    def url(self, vhost: str = "/", nodes: list[int] | None = None) -> str:
        """The failover URL: every node (or the 0-based ``nodes``) in order, ``;``-separated."""
        chosen = self.nodes if nodes is None else [self.nodes[i] for i in nodes]
        return ";".join(node.url(vhost) for node in chosen)

    def stop_node(self, index: int) -> None:
        self.nodes[index].stop()

    def start_node(self, index: int, timeout: float = 120) -> None:
        self.nodes[index].start(timeout)

    def running_nodes(self, via: int | None = None) -> list[str]:
        """The running nodes as a live node sees them (``rabbitmqctl cluster_status``)."""
        import json

        candidates = [via] if via is not None else [i for i, node in enumerate(self.nodes) if node.alive()]
        node = self.nodes[candidates[0]]
        done = node.ctl("cluster_status", "--formatter", "json", timeout=60)
        return list(json.loads(done.stdout)["running_nodes"])

    def logs(self) -> str:
        return str(self.folder)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.rabbit_cluster")
    parser.add_argument("command", choices=["up"])
    parser.add_argument("--nodes", type=int, default=3)
    args = parser.parse_args(argv)
    started = time.monotonic()
    with RabbitCluster(args.nodes) as cluster:
        print(f"{args.nodes} nodes up in {time.monotonic() - started:.1f}s: "
              + ", ".join(f"{node.name} (amqp {node.port}, dist {node.dist_port})" for node in cluster.nodes))
        print(f"AMQP_URI='{cluster.url()}' QUEUE_TYPE=quorum")
        print(f"data and logs: {cluster.folder}")
        with contextlib.suppress(EOFError, KeyboardInterrupt):
            input("Enter stops and removes the cluster ")


if __name__ == "__main__":
    main()
