"""Start real `linli` processes (SQLite in a temp dir, the suite's redis) and speak raw HTTP to them."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.services import free_port


def cli_env(tmp: Path, redis_url: str, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINLI_")}
    env.update(LINLI_ENV="dev", LINLI_DATABASE_URL=f"sqlite:///{tmp}/linli.db", LINLI_REDIS_URL=redis_url,
               LINLI_QUEUE_NAME=f"linli-{tmp.name}", LINLI_RATELIMIT_ENABLED="0", **extra)
    return env


def migrate(env: dict) -> None:
    out = subprocess.run([sys.executable, "-m", "app.cli", "db", "upgrade"], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]


@dataclass
class Process:
    proc: subprocess.Popen
    port: int
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            assert self.proc.poll() is None, f"exited {self.proc.returncode}:\n{self.output()[-3000:]}"
            try:
                if raw(self.port, b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"not healthy after {timeout}s:\n{self.output()[-3000:]}")

    def stop_group(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(30)


def start(args: list[str], env: dict, tmp: Path, name: str) -> Process:
    port = free_port()
    log = tmp / f"{name}.log"
    with open(log, "wb") as out:
        # Its own session, as a terminal's job would be: the test signals it like a terminal does.
        proc = subprocess.Popen([sys.executable, "-m", "app.cli", *args, "--port", str(port)], env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return Process(proc, port, log)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


def raw(port: int, request: bytes, timeout: float = 10) -> Reply:
    """Send bytes as they are, read the answer until the server closes (or one full response)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered early and closed; its answer may still be readable
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), None)
                if length is not None and len(body) >= length:
                    break
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return Reply(int(lines[0].split()[1]), headers, body)


def chunked(body: bytes, size: int = 65536) -> bytes:
    out = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size]) for i in range(0, len(body), size))
    return out + b"0\r\n\r\n"
