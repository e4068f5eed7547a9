"""A throwaway RabbitMQ node for tests and benchmarks: start, stop, SIGKILL, restart.

Everything the node owns lives under one temporary directory (data, logs, config,
cookie) and every port is a free one on 127.0.0.1, so several nodes run at once beside
any system broker. The node runs ``/usr/lib/rabbitmq/bin/rabbitmq-server`` directly (the
``/usr/sbin`` wrapper switches user and uses /var/lib) in a process group of its own,
with its own ``epmd``; both are ended by their ids only.

As a script: ``python -m tools.rabbitmq_node`` starts a node, prints its URL and runs
until interrupted.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import attrs

SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
INSTALL_HINT = "RabbitMQ is not installed: apt-get install -y rabbitmq-server"
START_TIMEOUT_S = 60.0
EPMD = shutil.which("epmd") or "/usr/bin/epmd"


def installed() -> bool:
    """Whether the broker and epmd are installed."""
    return SERVER.exists() and os.path.exists(EPMD)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def accepts(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on ``host``:``port``."""
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


@attrs.define
class Node:
    """One broker node under ``base`` (a new temporary directory by default).

    ``consumer_timeout_ms`` sets the broker's ``consumer_timeout`` and checks it every
    second (the default check runs once a minute), for tests of a timed-out delivery.
    ``host`` is the address AMQP listens on (loopback by default; the root side of
    :mod:`tools.netns_hosts`' test hosts for multi-host tests); epmd and the node's
    control ports stay on loopback.
    """

    base: Path = attrs.field(factory=lambda: Path(tempfile.mkdtemp(prefix="persistq-rmq-")))
    consumer_timeout_ms: int | None = None
    host: str = "127.0.0.1"
    amqp_port: int = attrs.field(factory=free_port)
    dist_port: int = attrs.field(factory=free_port)
    ctl_port: int = attrs.field(factory=free_port)
    epmd_port: int = attrs.field(factory=free_port)
    _server: subprocess.Popen[bytes] | None = None
    _epmd: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The AMQP URL of the node (user guest, default vhost)."""
        return f"amqp://guest:guest@{self.host}:{self.amqp_port}/%2F"

    @property
    def log_dir(self) -> Path:
        """Where the node writes its logs."""
        return self.base / "log"

    def _env(self) -> dict[str, str]:
        name = f"persistq{self.amqp_port}"
        env = dict(os.environ)
        env.update(
            HOME=str(self.base),
            RABBITMQ_NODENAME=f"{name}@localhost",
            RABBITMQ_NODE_IP_ADDRESS=self.host,
            RABBITMQ_NODE_PORT=str(self.amqp_port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_CTL_DIST_PORT_MIN=str(self.ctl_port),
            RABBITMQ_CTL_DIST_PORT_MAX=str(self.ctl_port),
            ERL_EPMD_PORT=str(self.epmd_port),
            ERL_EPMD_ADDRESS="127.0.0.1",
            RABBITMQ_MNESIA_BASE=str(self.base / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.log_dir),
            RABBITMQ_CONFIG_FILE=str(self.base / "rabbitmq.conf"),
            RABBITMQ_CONF_ENV_FILE=str(self.base / "rabbitmq-env.conf"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(self.base / "advanced.config"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.base / "enabled_plugins"),
            RABBITMQ_PID_FILE=str(self.base / "rabbitmq.pid"),
        )
        return env

    def _write_config(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        conf = ["loopback_users = none", "log.console = false", "log.file.level = warning"]
        advanced = "[]."
        if self.consumer_timeout_ms is not None:
            conf.append(f"consumer_timeout = {self.consumer_timeout_ms}")
            advanced = "[{rabbit, [{channel_tick_interval, 1000}]}]."
        (self.base / "rabbitmq.conf").write_text("\n".join(conf) + "\n")
        (self.base / "rabbitmq-env.conf").write_text("")
        (self.base / "advanced.config").write_text(advanced + "\n")
        (self.base / "enabled_plugins").write_text("[].\n")

    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        """Start the node (again, with its data, after a stop or kill) and return once
        it accepts AMQP connections and declares a queue."""
        if self._server is not None and self._server.poll() is None:
            raise RuntimeError(f"the node on port {self.amqp_port} is already running")
        self._write_config()
        env = self._env()
        if self._epmd is None or self._epmd.poll() is not None:
            self._epmd = subprocess.Popen(
                [EPMD, "-port", str(self.epmd_port), "-address", "127.0.0.1"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        with open(self.log_dir / "server.out", "ab") as out:
            self._server = subprocess.Popen(
                [str(SERVER)],
                env=env,
                cwd=self.base,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._server is not None
            if self._server.poll() is not None:
                raise RuntimeError(f"the broker exited early; see {self.log_dir}")
            if accepts(self.amqp_port, self.host) and self._declares():
                return
            time.sleep(0.1)
        raise RuntimeError(f"the broker did not start within {timeout} s; see {self.log_dir}")

    def _declares(self) -> bool:
        import pika  # noqa: PLC0415 - only where a node runs

        try:
            connection = pika.BlockingConnection(pika.URLParameters(self.url))
        except pika.exceptions.AMQPError:
            return False
        try:
            connection.channel().queue_declare("persistq.node.ready", auto_delete=True)
        finally:
            connection.close()
        return True

    def kill(self) -> None:
        """SIGKILL the node's processes (the broker's group; epmd stays)."""
        if self._server is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._server.pid, signal.SIGKILL)
            self._server.wait(timeout=30)
            self._wait_port_free()

    def stop(self) -> None:
        """Stop the node gracefully (SIGKILL after 30 s), and its epmd."""
        if self._server is not None and self._server.poll() is None:
            self._server.terminate()
            try:
                self._server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        with contextlib.suppress(ProcessLookupError):
            if self._server is not None:
                os.killpg(self._server.pid, signal.SIGKILL)  # its leftover helpers
        if self._epmd is not None and self._epmd.poll() is None:
            self._epmd.kill()
            self._epmd.wait(timeout=30)

    def _wait_port_free(self) -> None:
        deadline = time.monotonic() + 10
        while accepts(self.amqp_port, self.host) and time.monotonic() < deadline:
            time.sleep(0.05)

    def remove(self) -> None:
        """Stop the node and delete its directory."""
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


def main() -> int:
    """Start a node, print its URL, run until interrupted."""
    if not installed():
        print(INSTALL_HINT, file=sys.stderr)
        return 2
    node = Node()
    node.start()
    print(node.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        node.remove()
    return 0


if __name__ == "__main__":
    sys.exit(main())
