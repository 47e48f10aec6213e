"""Real services for the test run: a redis-server and a throwaway PostgreSQL cluster."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PG_BIN = Path(os.environ.get("LINLI_PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port} after {timeout}s")


class RedisServer:
    def __init__(self, *, appendonly: bool = False):
        exe = shutil.which("redis-server")
        if not exe:
            raise RuntimeError("redis-server not found: `make test` installs it (apt-get install redis-server)")
        self.dir = tempfile.mkdtemp(prefix="linli-redis-")
        self.port = free_port()
        self.socket = os.path.join(self.dir, "redis.sock")  # the same server on a Unix socket too
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if appendonly else ["--appendonly", "no"]
        self.args = [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", *persistence,
                     "--dir", self.dir, "--databases", "64", "--unixsocket", self.socket, "--unixsocketperm", "700"]
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def restart(self) -> None:
        """Stop and start again on the same port and directory (what it persisted comes back)."""
        self.proc.terminate()
        self.proc.wait(10)
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def unix_url(self, db: int = 0) -> str:
        return f"unix://{self.socket}?db={db}"

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


class PostgresCluster:
    """initdb refuses root, so as root the cluster belongs to the postgres user (runuser)."""

    def __init__(self):
        if not (PG_BIN / "initdb").exists():
            raise RuntimeError(f"PostgreSQL not found in {PG_BIN}: `make test` installs it")
        self.dir = Path(tempfile.mkdtemp(prefix="linli-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")
            os.chmod(self.dir, 0o755)
        self._run([str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "app", "-E", "UTF8",
                   "--locale=C.UTF-8"])
        self.start_server()

    def start_server(self) -> None:
        """Start the server (again, after halt(): crash recovery, then it accepts connections)."""
        self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "log"), "-w", "-o",
                   f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                   f"-c synchronous_commit=off -c full_page_writes=off -c max_connections=300", "start"])

    def halt(self) -> None:
        """Stop the server as a crash would (open connections die), keeping its data for start_server()."""
        self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"])

    def _run(self, cmd):
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql+psycopg://app@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(f"postgresql://app@127.0.0.1:{self.port}/postgres", autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}"')
            c.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self):
        try:
            self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"])
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
