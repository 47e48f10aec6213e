"""Ctrl-C on `linli dev` (and so on `make run`) stops every process it started: no gunicorn worker
is left holding the port, no RQ process is left running."""
from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

from tests.ops.real_server import cli_env, migrate, start


def children_by_parent() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                stat = (p / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            out.setdefault(ppid, []).append(int(p.name))
    return out


def descendants(pid: int) -> set[int]:
    tree, found, todo = children_by_parent(), set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is not "held"
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def test_ctrl_c_on_linli_dev_stops_every_process_it_started(tmp_path, redis_server):
    env = cli_env(tmp_path, redis_server.url(8))
    migrate(env)
    dev = start(["dev"], env, tmp_path, "dev")
    try:
        dev.wait_healthy()
        # serve (master + 2 workers), worker, scheduler: wait until all are up
        deadline = time.time() + 30
        while len(pids := descendants(dev.proc.pid)) < 5 and time.time() < deadline:
            time.sleep(0.2)
        assert len(pids) >= 5, (pids, dev.output()[-3000:])
        time.sleep(1)
        pids = descendants(dev.proc.pid)
        # A client that sent half its body (a phone on a bad network) holds a gunicorn thread: a
        # graceful stop waits for it, and a worker orphaned by a killed master would hold the port.
        slow = socket.create_connection(("127.0.0.1", dev.port))
        slow.sendall(b"POST /api/v1/auth/dev-login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{\"openid\"")
        time.sleep(0.5)

        os.killpg(dev.proc.pid, signal.SIGINT)  # what a terminal does on Ctrl-C: the foreground group
        dev.proc.wait(60)

        deadline = time.time() + 10
        while (left := [p for p in pids if alive(p)]) and time.time() < deadline:
            time.sleep(0.1)
        assert not left, f"still running: {left}\n{dev.output()[-3000:]}"
        assert port_free(dev.port)
    finally:
        if "slow" in locals():
            slow.close()
        for pid in descendants(dev.proc.pid) | (pids if "pids" in locals() else set()):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        dev.stop_group()
