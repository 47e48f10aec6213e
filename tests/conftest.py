"""Fixtures: every test that takes `app` runs against SQLite and against PostgreSQL, with a real
redis-server; databases are cloned from a migrated template so each test starts clean."""
from __future__ import annotations

import itertools
import os
import shutil
import uuid

import pytest
from redis import Redis
from rq import Queue, SimpleWorker
from rq.scheduler import RQScheduler

from app import create_app
from app.config import Settings
from app.db import advance_clock, reset_clock, utcnow
from app.migrate import upgrade
from tests.fakes.wechat import FakeWechat
from tests.services import PostgresCluster, RedisServer

ALL_BACKENDS = ("sqlite", "postgresql")
BACKENDS = [b for b in os.environ.get("LINLI_TEST_BACKENDS", ",".join(ALL_BACKENDS)).split(",") if b]
NARROWED = sorted(set(ALL_BACKENDS) - set(BACKENDS))
_NARROWED_WARNING = (f"LINLI_TEST_BACKENDS={','.join(BACKENDS)}: NOT testing {', '.join(NARROWED)}. "
                     "This run proves nothing about the missing backend(s); CI runs both.")


def pytest_report_header(config):
    if NARROWED:
        return ["!" * 100, f"WARNING {_NARROWED_WARNING}", "!" * 100]
    return [f"database backends: {', '.join(BACKENDS)}"]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if NARROWED:
        terminalreporter.section("NARROWED BACKENDS", sep="!", red=True, bold=True)
        terminalreporter.write_line(f"WARNING {_NARROWED_WARNING}", red=True, bold=True)


@pytest.fixture(scope="session")
def redis_server():
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pg_cluster():
    if "postgresql" not in BACKENDS:
        yield None
        return
    cluster = PostgresCluster()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def templates(tmp_path_factory, pg_cluster):
    """Migrate once per backend (through Alembic, as production does); tests clone the result."""
    out = {}
    if "sqlite" in BACKENDS:
        path = tmp_path_factory.mktemp("tpl") / "template.db"
        upgrade(f"sqlite:///{path}")
        out["sqlite"] = path
    if pg_cluster is not None:
        upgrade(pg_cluster.create_database("linli_template"))
        out["postgresql"] = "linli_template"
    return out


_counter = itertools.count()


def _fresh_db(backend, templates, pg_cluster, tmp_path) -> str:
    if backend == "sqlite":
        path = tmp_path / f"t{next(_counter)}.db"
        shutil.copy(templates["sqlite"], path)
        return f"sqlite:///{path}"
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"postgresql://app@127.0.0.1:{pg_cluster.port}/postgres", autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}" TEMPLATE linli_template')
    return pg_cluster.url(name)


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture(scope="session")
def fake_wechat():
    """WeChat's login API on 127.0.0.1: no test ever reaches the real api.weixin.qq.com."""
    with FakeWechat(appid="wx-linli-test", secret="wx-linli-test-secret") as fake:
        yield fake


@pytest.fixture
def settings_overrides():
    """Override in a test module to change settings for its app."""
    return {}


@pytest.fixture
def make_settings(backend, templates, pg_cluster, redis_server, tmp_path, settings_overrides, fake_wechat):
    def _make(**overrides) -> Settings:
        values = dict(env="test", database_url=_fresh_db(backend, templates, pg_cluster, tmp_path),
                      redis_url=redis_server.url(), ratelimit_enabled=False, queue_name="linli-test",
                      wechat_api_base=fake_wechat.base_url, wechat_appid=fake_wechat.appid,
                      wechat_secret=fake_wechat.secret, wechat_timeout_s=2.0)
        values.update(settings_overrides)
        values.update(overrides)
        return Settings(**values)
    return _make


@pytest.fixture
def app(make_settings, redis_server):
    Redis.from_url(redis_server.url()).flushall()
    application = create_app(make_settings())
    application.config["TESTING"] = True
    yield application
    application.extensions["linli.engine"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def drain(app):
    """Run due jobs with a real RQ worker (no fork) against the real Redis, in-process."""
    def _drain(include_scheduled: bool = True) -> int:
        conn = app.extensions["linli.redis"]
        queue = Queue(app.extensions["linli.settings"].queue_name, connection=conn)
        if include_scheduled:
            scheduler = RQScheduler([queue], connection=conn)
            scheduler.acquire_locks()
            scheduler.enqueue_scheduled_jobs()
            scheduler.release_locks()
        count = len(queue)
        with app.app_context():
            SimpleWorker([queue], connection=conn).work(burst=True, logging_level="WARNING")
        return count
    return _drain


# ---- small builders -------------------------------------------------------------------------

class Api:
    """A thin client that logs in as a given user and speaks JSON."""

    def __init__(self, client, token: str, user: dict):
        self.client, self.token, self.user = client, token, user
        self.headers = {"Authorization": f"Bearer {token}"}

    def _call(self, method, path, json=None, headers=None, **kw):
        h = dict(self.headers)
        h.update(headers or {})
        return getattr(self.client, method)(f"/api/v1{path}", json=json, headers=h, **kw)

    def get(self, path, **kw):
        return self._call("get", path, **kw)

    def post(self, path, json=None, **kw):
        return self._call("post", path, json=json, **kw)

    def put(self, path, json=None, **kw):
        return self._call("put", path, json=json, **kw)

    def patch(self, path, json=None, **kw):
        return self._call("patch", path, json=json, **kw)


def login(client, openid: str, *, admin: bool | None = None, nickname: str | None = None) -> Api:
    r = client.post("/api/v1/auth/dev-login", json={"openid": openid, "admin": admin, "nickname": nickname or openid})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    return Api(client, body["token"], body["user"])


@pytest.fixture
def admin(client):
    return login(client, "admin", admin=True)


@pytest.fixture
def buyer(client):
    return login(client, "buyer-1", nickname="小邻居")


_leader_seq = itertools.count(1)


def make_leader(client, admin: Api, *, lat=30.2741, lng=120.1551, radius=3000, name=None) -> tuple[Api, dict]:
    n = next(_leader_seq)
    api = login(client, f"leader-{n}-{uuid.uuid4().hex[:6]}", nickname=f"团长{n}")
    r = api.post("/leader-applications", json={"real_name": f"团长{n}", "phone": "13900000000",
                                                "pickup_point": {"name": name or f"自提点{n}", "address": "某路1号",
                                                                 "lat": lat, "lng": lng, "service_radius_m": radius}})
    assert r.status_code == 201, r.get_json()
    r = admin.post(f"/admin/leader-applications/{r.get_json()['id']}/approve")
    assert r.status_code == 200, r.get_json()
    return api, r.get_json()


@pytest.fixture
def leader(client, admin):
    return make_leader(client, admin)


def make_product(admin: Api, *, name="麒麟西瓜", skus=(("一个装约4斤", 1990, 100),)) -> dict:
    r = admin.post("/admin/products", json={"name": name, "skus": [{"name": n, "price": p, "stock": s}
                                                                    for n, p, s in skus]})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


@pytest.fixture
def product(admin):
    return make_product(admin)


class Clock:
    """The app's time (app.db.utcnow), moved forward instead of sleeping."""

    def advance(self, seconds: float) -> None:
        advance_clock(seconds)

    def now(self):
        return utcnow()


@pytest.fixture
def clock():
    reset_clock()
    yield Clock()
    reset_clock()
