"""The sockets of this `serve` process and the one Redis subscription that feeds them.

Every user's events are published to `linli:user:<id>` (app.notify.service.user_channel) by
whichever process made them; each process holds ONE pattern subscription on its own Redis
connection (no socket timeout: the shared client's 5 s timeout would cut an idle subscription)
and hands each event to the local sockets of that user. One subscription per process, not one
per socket, keeps Redis connections at the number of processes; the price is that every process
sees every user's events, which at chat rates (hundreds a second) is nothing.

If the subscription drops, events published meanwhile are lost to this process: every local
socket is then closed, so that clients reconnect and catch up with `after_seq`."""
from __future__ import annotations

import logging
import queue
import threading
from collections import defaultdict

from redis import BlockingConnectionPool, Redis

log = logging.getLogger(__name__)

PATTERN = "linli:user:*"
PRESENCE_PREFIX = "linli:online:"


class Client:
    """One open socket: the hub puts events in its queue, the socket's own loop sends them."""

    def __init__(self, user_id: int):
        self.user_id = user_id
        self.queue: queue.Queue = queue.Queue(maxsize=1000)
        self.closed = False

    def offer(self, raw: str) -> None:
        try:
            self.queue.put_nowait(raw)
        except queue.Full:  # a socket that reads nothing: drop it, the client catches up on reconnect
            self.close()

    def close(self) -> None:
        self.closed = True
        try:
            self.queue.put_nowait(None)
        except queue.Full:
            pass


class Hub:
    def __init__(self, redis_url: str):
        self.redis_url = redis_url
        self.clients: dict[int, set[Client]] = defaultdict(set)
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.ready.clear()
                self.thread = threading.Thread(target=self._run, name="linli-chat-hub", daemon=True)
                self.thread.start()

    def add(self, client: Client, timeout: float = 10) -> bool:
        self.start()
        with self.lock:
            self.clients[client.user_id].add(client)
        return self.ready.wait(timeout)

    def remove(self, client: Client) -> None:
        with self.lock:
            mine = self.clients.get(client.user_id)
            if mine is not None:
                mine.discard(client)
                if not mine:
                    del self.clients[client.user_id]

    def _dispatch(self, channel: str, raw: str) -> None:
        try:
            user_id = int(channel.rsplit(":", 1)[1])
        except (IndexError, ValueError):
            return
        with self.lock:
            targets = list(self.clients.get(user_id, ()))
        for c in targets:
            c.offer(raw)

    def _run(self) -> None:
        import time

        pause = 0.5
        while True:
            conn = Redis.from_url(self.redis_url, socket_timeout=None, socket_keepalive=True,
                                  health_check_interval=0, decode_responses=True)
            pubsub = conn.pubsub(ignore_subscribe_messages=False)
            try:
                pubsub.psubscribe(PATTERN)
                for item in pubsub.listen():
                    if item["type"] == "psubscribe":
                        self.ready.set()
                        pause = 0.5
                    elif item["type"] == "pmessage":
                        self._dispatch(item["channel"], item["data"])
            except Exception as e:  # noqa: BLE001 - reconnect; what was missed is caught up by clients
                log.warning("chat subscription lost (%s); closing local sockets, resubscribing in %.1fs",
                            type(e).__name__, pause)
            finally:
                self.ready.clear()
                try:
                    pubsub.close()
                    conn.close()
                except Exception:  # noqa: BLE001
                    pass
            with self.lock:
                everyone = [c for cs in self.clients.values() for c in cs]
            for c in everyone:
                c.close()
            time.sleep(pause)
            pause = min(pause * 2, 10)


class SocketSlots:
    """The sockets this process holds: at most `per_user` per user (LINLI_WS_MAX_PER_USER), and
    at most `total` in all when the process is the JSON pool (gthread: a socket holds one of its
    few threads for as long as it is open; None on the socket pool, whose greenlets are cheap).
    Taken before the handshake, so a refusal is an HTTP answer, and given back when it closes."""

    def __init__(self, per_user: int, total: int | None = None):
        self.per_user, self.total = per_user, total
        self.lock = threading.Lock()
        self.by_user: dict[int, int] = defaultdict(int)
        self.held = 0

    def take(self, user_id: int) -> str | None:
        """None when a slot was taken, else why not: "user" (this user's sockets are at the limit)
        or "pool" (the JSON pool's sockets are)."""
        with self.lock:
            if self.by_user[user_id] >= self.per_user:
                return "user"
            if self.total is not None and self.held >= self.total:
                return "pool"
            self.by_user[user_id] += 1
            self.held += 1
            return None

    def give_back(self, user_id: int) -> None:
        with self.lock:
            self.held -= 1
            self.by_user[user_id] -= 1
            if self.by_user[user_id] <= 0:
                del self.by_user[user_id]


_hubs: dict[str, Hub] = {}
_hubs_lock = threading.Lock()


def hub_for(redis_url: str) -> Hub:
    """One hub per process (and Redis), started on the first socket, i.e. after gunicorn forked."""
    with _hubs_lock:
        if redis_url not in _hubs:
            _hubs[redis_url] = Hub(redis_url)
        return _hubs[redis_url]


# ---- presence: "does this user have an open socket anywhere?" ---------------------------------

_presence: dict[str, Redis] = {}


def presence_redis(redis_url: str) -> Redis:
    """The sockets' own client for presence writes: a pool whose callers WAIT for a free
    connection. The shared client's pool (redis-py: 100 connections, then MaxConnectionsError)
    fails the 101st caller at once; with a thousand greenlets opening sockets in the same second
    and Redis slow for a moment, presence writes outnumber it (bench/chat.py: 37 in 1,000)."""
    with _hubs_lock:
        if redis_url not in _presence:
            pool = BlockingConnectionPool.from_url(redis_url, max_connections=50, timeout=10, socket_timeout=5,
                                                   health_check_interval=30)
            _presence[redis_url] = Redis(connection_pool=pool)
        return _presence[redis_url]


def mark_online(redis, user_id: int, ttl_s: int) -> None:
    """Refreshed by each socket's heartbeat; expires by itself when the last socket goes quiet.
    A hint only: a failure is logged, never the socket's end."""
    try:
        redis.set(f"{PRESENCE_PREFIX}{user_id}", "1", ex=ttl_s)
    except Exception:  # noqa: BLE001 - the leader may get a notification too many, nothing worse
        log.warning("could not mark user %s online", user_id, exc_info=True)


def is_online(redis, user_id: int) -> bool:
    try:
        return bool(redis.exists(f"{PRESENCE_PREFIX}{user_id}"))
    except Exception:  # noqa: BLE001 - unknown: a notification too many beats one missed
        return False


class WholeFrames:
    """The socket under a simple-websocket connection, sending whole frames one at a time.
    simple-websocket writes with `sock.send`, which under gevent sends what fits and returns the
    count (ignored: the rest of the frame is lost) when a slow reader's buffer is full, and its
    reader greenlet (pongs, close replies, pings) writes the same socket as our sender; two
    greenlets waiting to write one gevent socket is a ConcurrentObjectUseError. `sendall` under a
    (gevent-patched) lock writes each frame whole and one writer at a time."""

    def __init__(self, sock):
        self._sock = sock
        self._lock = threading.Lock()

    def send(self, data) -> int:
        with self._lock:
            self._sock.sendall(data)
        return len(data)

    def __getattr__(self, name):
        return getattr(self._sock, name)
