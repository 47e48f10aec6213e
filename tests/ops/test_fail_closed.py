"""Production fails closed, and so does a deployment that forgot LINLI_ENV=prod: outside prod the
server binds loopback only and dev login answers loopback callers only (unless
LINLI_ALLOW_REMOTE_DEV=1), and the public default secret never serves anyone off this machine."""
from __future__ import annotations

import os
import random
import string
import subprocess
import sys

import pytest
from pydantic import ValidationError

from app.config import DEFAULT_SECRET, Settings

_rng = random.Random(5)  # fixed: xdist workers must collect the same parameters


def token(n: int, alphabet: str = "0123456789abcdef") -> str:
    return "".join(_rng.choice(alphabet) for _ in range(n))


STRONG = token(64)
URLSAFE = string.ascii_letters + string.digits + "-_"
REMOTE = {"REMOTE_ADDR": "192.0.2.7"}  # TEST-NET-1: a caller on another machine


def prod(**kw) -> Settings:
    return Settings(**{"env": "prod", "secret_key": STRONG, "payment_provider": "wechatpay", **kw})


def test_prod_with_a_random_secret_and_wechat_pay_starts():
    assert prod().dev_login is False


def test_prod_refuses_the_sandbox_payment_provider():
    with pytest.raises(ValidationError, match="LINLI_PAYMENT_PROVIDER"):
        prod(payment_provider="sandbox")


@pytest.mark.parametrize("secret", [
    " " * 32, "a" * 64, "ab" * 32, "abcd" * 16, "0123456" * 6, DEFAULT_SECRET, token(30)])
def test_prod_refuses_a_low_entropy_or_short_secret_and_says_the_rule(secret):
    with pytest.raises(ValidationError, match="at least 32 characters, at least 8 distinct") as e:
        prod(secret_key=secret)
    assert "LINLI_SECRET_KEY" in str(e.value)


@pytest.mark.parametrize("secret", [token(32), token(64), token(43, URLSAFE),
                                    "correct horse battery staple, 2026 edition!"])
def test_prod_accepts_a_random_secret(secret):
    assert prod(secret_key=secret).secret_key == secret


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_dev_may_bind_loopback(host):
    assert Settings(env="dev").bind_refusal(host) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.org", ""])
def test_dev_refuses_to_bind_anything_else(host):
    assert "LINLI_ALLOW_REMOTE_DEV=1" in Settings(env="dev").bind_refusal(host)
    assert Settings(env="test").bind_refusal(host) is not None


def test_remote_dev_must_be_asked_for_and_never_with_the_public_secret():
    assert "default LINLI_SECRET_KEY" in Settings(env="dev", allow_remote_dev=True).bind_refusal("0.0.0.0")
    assert Settings(env="dev", allow_remote_dev=True, secret_key=STRONG).bind_refusal("0.0.0.0") is None
    assert prod().bind_refusal("0.0.0.0") is None


def run_cli(*args, **env):
    full = {k: v for k, v in os.environ.items() if not k.startswith("LINLI_")}
    full.update(env)
    return subprocess.run([sys.executable, "-m", "app.cli", *args], env=full, capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize("command", ["serve", "dev"])
def test_serve_and_dev_refuse_a_public_bind_without_linli_env(tmp_path, command):
    out = run_cli(command, "--host", "0.0.0.0", "--port", "1", LINLI_DATABASE_URL=f"sqlite:///{tmp_path}/x.db")
    assert out.returncode != 0 and "LINLI_ALLOW_REMOTE_DEV=1" in out.stderr, out.stderr


def test_serve_in_prod_refuses_the_sandbox(tmp_path):
    out = run_cli("serve", "--port", "1", LINLI_ENV="prod", LINLI_SECRET_KEY=STRONG,
                  LINLI_DATABASE_URL=f"sqlite:///{tmp_path}/x.db")
    assert out.returncode != 0 and "LINLI_PAYMENT_PROVIDER" in out.stderr and "Traceback" not in out.stderr


# ---- in the app ---------------------------------------------------------------------------------

@pytest.fixture
def settings_overrides():
    return {"secret_key": STRONG}


def dev_login(client, **kw):
    return client.post("/api/v1/auth/dev-login", json={"openid": "someone", "admin": True}, **kw)


def test_dev_login_answers_this_machine(client):
    assert dev_login(client).status_code == 200


def test_dev_login_is_404_to_another_machine(client):
    r = dev_login(client, environ_base=REMOTE)
    assert r.status_code == 404 and r.get_json()["code"] == "not_found"


@pytest.mark.parametrize("header", ["X-Forwarded-For", "X-Real-IP", "Forwarded"])
def test_dev_login_through_a_proxy_on_this_machine_is_404(client, header):
    assert dev_login(client, headers={header: "203.0.113.9"}).status_code == 404


def test_dev_login_answers_another_machine_when_remote_dev_is_allowed(make_settings):
    from app import create_app

    app = create_app(make_settings(allow_remote_dev=True))
    try:
        assert dev_login(app.test_client(), environ_base=REMOTE).status_code == 200
    finally:
        app.extensions["linli.engine"].dispose()


def test_the_public_default_secret_answers_this_machine_only(make_settings):
    from app import create_app

    app = create_app(make_settings(secret_key=DEFAULT_SECRET, allow_remote_dev=True))
    try:
        c = app.test_client()
        assert c.get("/api/v1/products").status_code == 200
        r = c.get("/api/v1/products", environ_base=REMOTE)
        assert r.status_code == 403 and "LINLI_SECRET_KEY" in r.get_json()["detail"]
        assert dev_login(c, environ_base=REMOTE).status_code == 403
    finally:
        app.extensions["linli.engine"].dispose()


def test_a_real_secret_serves_other_machines(client):
    assert client.get("/api/v1/products", environ_base=REMOTE).status_code == 200


def test_a_unix_socket_peer_counts_as_remote_and_an_in_process_call_as_local(client):
    assert dev_login(client, environ_base={"REMOTE_ADDR": ""}).status_code == 404
    environ = client.environ_base
    client.environ_base = {k: v for k, v in environ.items() if k != "REMOTE_ADDR"}
    try:
        assert dev_login(client).status_code == 200
    finally:
        client.environ_base = environ
