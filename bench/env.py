"""What a benchmark run needs: its own broker, fresh topics per measurement, worker processes.

A run starts a private Kafka broker with ``ops/broker.sh`` (its own ``BROKER_NAME`` and free
ports, data under ``.data/kafka/bench-<pid>``) and stops and deletes it at the end, also after a
failure or Ctrl-C. Each measurement gets a fresh topic prefix (so its own topics, consumer group
and transactional id) and data directories under ``.data/bench/<run>/``; workers are real
processes (``python -m coordinator.cli worker``) started from the source tree in ``code``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from confluent_kafka.admin import AdminClient, NewTopic

from coordinator.config import Settings
from coordinator.kafka.admin import ensure_topics, wait_for_broker

ROOT = Path(__file__).resolve().parents[1]
BENCH_BROKER_PREFIX = "bench-"


class BenchError(Exception):
    """A benchmark could not be carried out (not a slow result: those are only reported)."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def free_port_pair() -> int:
    """A port p such that p and p + 1 are both free (broker and controller)."""
    for _ in range(200):
        port = free_port()
        if port >= 65535:
            continue
        try:
            with socket.socket() as second:
                second.bind(("127.0.0.1", port + 1))
        except OSError:
            continue
        return port
    raise BenchError("no two adjacent free ports")


def say(message: str) -> None:
    print(f"[bench] {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


# -- the broker ----------------------------------------------------------------------------------


class Broker:
    """A broker of this run's own, by ``ops/broker.sh`` (which also fetches the jars)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.port = free_port_pair()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.started = False

    @property
    def home(self) -> Path:
        return ROOT / ".data" / "kafka" / self.name

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            BROKER_NAME=self.name,
            BROKER_PORT=str(self.port),
            COORDINATOR_DATA_DIR=str(ROOT / ".data"),
        )
        return env

    def _run(self, action: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(ROOT / "ops" / "broker.sh"), action],
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def start(self) -> Broker:
        started = time.monotonic()
        self.started = True  # from here on, stop() must run even if start fails half-way
        result = self._run("start")
        if result.returncode != 0:
            raise BenchError(f"the broker did not start:\n{result.stdout}{result.stderr}")
        wait_for_broker(Settings(broker=self.bootstrap), timeout=60)
        say(f"broker {self.name} at {self.bootstrap} ({time.monotonic() - started:.1f} s)")
        return self

    def stop_and_remove(self) -> None:
        if self.started:
            self._run("stop")
        shutil.rmtree(self.home, ignore_errors=True)

    def java_pid(self) -> int | None:
        try:
            return int((self.home / "broker.pid").read_text().strip())
        except (OSError, ValueError):
            return None


def remove_stale_brokers() -> None:
    """Brokers left behind by bench runs that were killed (their process is gone) are ours."""
    for home in (ROOT / ".data" / "kafka").glob(f"{BENCH_BROKER_PREFIX}*"):
        owner = home.name.removeprefix(BENCH_BROKER_PREFIX).split("-", 1)[0]
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            stale = Broker.__new__(Broker)
            stale.name, stale.port, stale.started = home.name, 0, True
            stale.bootstrap = ""
            say(f"removing broker {home.name} left by an interrupted run")
            stale.stop_and_remove()


# -- workers -------------------------------------------------------------------------------------


class WorkerProcess:
    """One ``coordinator worker`` process; its output goes to ``log_path``."""

    def __init__(self, name: str, env: dict[str, str], log_path: Path, cwd: Path) -> None:
        self.name = name
        self.env = env
        self.log_path = log_path
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self._log_mark = 0

    @property
    def port(self) -> int:
        return int(self.env["COORDINATOR_HTTP_PORT"])

    @property
    def pid(self) -> int:
        if self.process is None:
            raise BenchError(f"worker {self.name} is not started")
        return self.process.pid

    def start(self) -> WorkerProcess:
        if self.process is not None and self.process.poll() is None:
            raise BenchError(f"worker {self.name} is already running")
        self._log_mark = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.started_at = time.monotonic()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "coordinator.cli", "worker"],
                env=self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C for the bench reaches it only through us
            )
        return self

    def log(self) -> str:
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as handle:
            handle.seek(self._log_mark)
            return handle.read().decode("utf-8", "replace")

    def _check_alive(self, waiting_for: str) -> None:
        if self.process is None or self.process.poll() is not None:
            code = None if self.process is None else self.process.returncode
            raise BenchError(
                f"worker {self.name} exited ({code}) while waiting for {waiting_for}:\n"
                f"{self.log()[-3000:]}"
            )

    def http(self, path: str, timeout: float = 5.0) -> tuple[int, bytes] | None:
        """``(status, body)``, or None while nothing listens yet."""
        url = f"http://127.0.0.1:{self.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                return int(response.status), bytes(response.read())
        except urllib.error.HTTPError as error:
            return int(error.code), bytes(error.read())
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return None

    def readiness(self) -> dict[str, Any] | None:
        answer = self.http("/health/ready")
        if answer is None:
            return None
        body: dict[str, Any] = json.loads(answer[1])
        body["status"] = answer[0]
        return body

    def wait_until(
        self, what: str, check: Any, timeout: float, interval: float = 0.05
    ) -> dict[str, Any]:
        """Poll ``/health/ready`` until ``check(body)`` holds; return that body."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive(what)
            body = self.readiness()
            if body is not None and check(body):
                return body
            time.sleep(interval)
        raise BenchError(
            f"worker {self.name}: no {what} within {timeout:.0f} s:\n{self.log()[-3000:]}"
        )

    def wait_ready(self, timeout: float = 600.0) -> tuple[float, dict[str, Any]]:
        """Seconds from process start to the first 200 on ``/health/ready`` (polled every 50 ms),
        and what it said then (the recovery's source, events replayed, its own seconds)."""
        body = self.wait_until("ready", lambda found: found["status"] == 200, timeout)
        return time.monotonic() - self.started_at, body

    def wait_active(self, timeout: float = 600.0) -> dict[str, Any]:
        return self.wait_until("serving", lambda body: body.get("role") == "active", timeout)

    def wait_seq(self, seq: int, timeout: float = 600.0, interval: float = 0.2) -> dict[str, Any]:
        return self.wait_until(
            f"seq {seq}", lambda body: int(body.get("seq", 0)) >= seq, timeout, interval
        )

    def wait_log(self, pattern: str, timeout: float = 300.0) -> re.Match[str]:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = regex.search(self.log())
            if found:
                return found
            self._check_alive(repr(pattern))
            time.sleep(0.1)
        raise BenchError(f"worker {self.name}: no {pattern!r} within {timeout:.0f} s")

    def metrics(self) -> dict[str, float]:
        """The worker's Prometheus metrics, ``name{labels}`` -> value."""
        answer = self.http("/metrics", timeout=30)
        if answer is None or answer[0] != 200:
            raise BenchError(f"worker {self.name}: /metrics did not answer")
        found: dict[str, float] = {}
        for line in answer[1].decode().splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                with contextlib.suppress(ValueError):
                    found[name] = float(value)
        return found

    def rss(self) -> int:
        return int(psutil.Process(self.pid).memory_info().rss)

    def cpu_seconds(self) -> float:
        times = psutil.Process(self.pid).cpu_times()
        return float(times.user + times.system)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM and wait (SIGKILL after ``timeout``); only this worker's own process."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGCONT)
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(30)


# -- deployments ---------------------------------------------------------------------------------


@dataclass
class Deployment:
    """One measurement's coordinator: a unique topic prefix, its topics, data and workers."""

    run: Run
    settings: Settings
    root: Path
    workers: list[WorkerProcess] = field(default_factory=list)

    @property
    def prefix(self) -> str:
        return self.settings.topic_prefix

    def worker(self, name: str = "worker", **overrides: object) -> WorkerProcess:
        env = {
            key: value for key, value in os.environ.items() if not key.startswith("COORDINATOR_")
        }
        env.update(
            COORDINATOR_BROKER=self.settings.broker,
            COORDINATOR_TOPIC_PREFIX=self.prefix,
            COORDINATOR_DATA_DIR=str(self.settings.data_dir),
            COORDINATOR_WORKER_NAME=name,
            COORDINATOR_HTTP_PORT=str(free_port()),
            COORDINATOR_LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
            PYTHONPATH=str(self.run.code),
        )
        for key, value in {**self.run.worker_env, **overrides}.items():
            env[f"COORDINATOR_{key.upper()}"] = str(value)
        worker = WorkerProcess(name, env, self.root / f"{name}.log", self.run.code)
        self.workers.append(worker)
        return worker

    def data_dir(self, worker_name: str) -> Path:
        return self.settings.data_dir / worker_name

    def create_topics(self, *suffixes: str) -> list[str]:
        """Extra single-partition topics under this prefix (for the baselines' output)."""
        names = [f"{self.prefix}.{suffix}" for suffix in suffixes]
        admin = AdminClient(self.settings.kafka_base())
        futures = admin.create_topics([NewTopic(name, 1, 1) for name in names])
        for future in futures.values():
            future.result()
        return names

    def destroy(self) -> None:
        """Stop its workers, delete its topics and data (the broker's disk is finite)."""
        for worker in self.workers:
            worker.stop()
        admin = AdminClient(self.settings.kafka_base())
        with contextlib.suppress(Exception):
            names = [
                name
                for name in admin.list_topics(timeout=10).topics
                if name.startswith(self.prefix + ".")
            ]
            if names:
                for future in admin.delete_topics(names, request_timeout=30).values():
                    with contextlib.suppress(Exception):
                        future.result()
        shutil.rmtree(self.settings.data_dir, ignore_errors=True)


class Run:
    """One invocation of the bench: the broker, the output directory, the code under test."""

    def __init__(
        self, code: Path, keep: bool = False, worker_env: dict[str, str] | None = None
    ) -> None:
        self.id = f"{os.getpid()}-{time.strftime('%Y%m%d-%H%M%S')}"
        self.code = code.resolve()
        self.keep = keep
        self.worker_env = dict(worker_env or {})
        self.root = ROOT / ".data" / "bench" / f"run-{self.id}"
        self.output = ROOT / ".data" / "bench" / f"results-{self.id}"
        self.broker = Broker(f"{BENCH_BROKER_PREFIX}{os.getpid()}")
        self.deployments: list[Deployment] = []

    def start(self) -> Run:
        remove_stale_brokers()
        self.root.mkdir(parents=True, exist_ok=True)
        self.output.mkdir(parents=True, exist_ok=True)
        self.broker.start()
        return self

    def deployment(self, label: str) -> Deployment:
        prefix = f"b{label}-{uuid.uuid4().hex[:6]}"
        root = self.root / prefix
        root.mkdir(parents=True)
        settings = Settings(
            broker=self.broker.bootstrap, topic_prefix=prefix, data_dir=root / "data"
        )
        ensure_topics(settings)
        created = Deployment(self, settings, root)
        self.deployments.append(created)
        return created

    def close(self) -> None:
        """Stop every worker, then the broker; delete their data (logs too unless ``keep``)."""
        for deployment in self.deployments:
            for worker in deployment.workers:
                with contextlib.suppress(Exception):
                    worker.stop(timeout=15)
        self.broker.stop_and_remove()
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)
        with contextlib.suppress(OSError):
            (ROOT / ".data" / "bench").rmdir()  # only if nothing else is left there
