"""No secret ever reaches a log: WeChat login failures log the endpoint only, and every record of
the process is scrubbed of configured secrets, bearer tokens and credential query values."""
from __future__ import annotations

import io
import logging
import re
import socket

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask_jwt_extended import create_access_token

from app import create_app

STRONG_SECRET = "9b1f4e2ac7d8e3f6a0b5c4d9e8f7a6b5c4d3e2f1a0b9c8d7"
APIV3_KEY = "apiv3-key-0123456789abcdefABCDEF"


@pytest.fixture
def make_app(make_settings):
    apps = []

    def _make(**overrides):
        app = create_app(make_settings(**overrides))
        apps.append(app)
        return app

    yield _make
    for app in apps:
        app.extensions["linli.engine"].dispose()


def dead_port() -> int:
    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_no_secret(caplog, *secrets):
    text = caplog.text + "".join(r.getMessage() for r in caplog.records)
    for secret in secrets:
        assert secret not in text, f"{secret!r} reached the log:\n{caplog.text}"
    # urllib3 logs request URLs at DEBUG: their credentials are there, scrubbed.
    assert not re.search(r"(secret|js_code|token)=(?!\[REDACTED\])", text), caplog.text


def wechat_records(caplog):
    return [r for r in caplog.records if r.name == "app.auth.wechat"]


def test_an_unreachable_wechat_logs_the_endpoint_and_never_the_app_secret(make_app, fake_wechat, caplog):
    app = make_app(wechat_api_base=f"http://127.0.0.1:{dead_port()}", secret_key=STRONG_SECRET)
    caplog.set_level(logging.DEBUG)
    r = app.test_client().post("/api/v1/auth/wechat", json={"code": "the-users-one-time-code"})
    assert r.status_code == 503
    assert_no_secret(caplog, fake_wechat.secret, "the-users-one-time-code")
    records = wechat_records(caplog)
    assert records and "/sns/jscode2session" in records[0].getMessage()
    # The line itself has nothing to hide: the scrubber is a second line of defence, not the first.
    assert all("REDACTED" not in r.getMessage() for r in records)


def test_garbage_from_wechat_logs_no_secret(make_app, fake_wechat, caplog):
    app = make_app(secret_key=STRONG_SECRET)
    fake_wechat.break_next(200, b"\x00garbage, not JSON {", "text/plain")
    caplog.set_level(logging.DEBUG)
    r = app.test_client().post("/api/v1/auth/wechat", json={"code": "another-one-time-code"})
    assert r.status_code == 503
    assert_no_secret(caplog, fake_wechat.secret, "another-one-time-code")
    assert wechat_records(caplog)
    assert all("REDACTED" not in r.getMessage() for r in wechat_records(caplog))


def test_every_record_is_scrubbed_of_configured_secrets_and_tokens(make_app, fake_wechat, tmp_path, caplog):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    (tmp_path / "apiclient_key.pem").write_text(pem)
    app = make_app(secret_key=STRONG_SECRET, wechatpay_apiv3_key=APIV3_KEY,
                   wechatpay_private_key_path=str(tmp_path / "apiclient_key.pem"))
    with app.app_context():
        jwt = create_access_token(identity="1")
    # A handler set up by someone else, before or after the app: scrubbed all the same.
    stream = io.StringIO()
    other = logging.getLogger("somebody.elses")
    other.addHandler(logging.StreamHandler(stream))
    caplog.set_level(logging.DEBUG)
    log = logging.getLogger("app.anywhere")
    try:
        log.warning("settings: %s %s %s", STRONG_SECRET, fake_wechat.secret, APIV3_KEY)
        log.warning("GET https://api.weixin.qq.com/sns/jscode2session?appid=wx&secret=%s&js_code=abc123 failed",
                    "unconfigured-secret-value")
        log.info("headers {'Authorization': 'Bearer %s'}", jwt)
        log.info("a bare token %s and a query ?token=%s&access_token=qwerty-access", jwt, "tok-123456")
        log.error("a key in a message:\n%s", pem)
        log.error("one line of the key: %s", pem.splitlines()[3])
        other.error("elsewhere: %s", STRONG_SECRET)
        try:
            raise RuntimeError(f"connection to https://x/?secret={fake_wechat.secret} refused ({APIV3_KEY})")
        except RuntimeError:
            log.exception("wrapped")
    finally:
        other.handlers.clear()
    secrets = [STRONG_SECRET, fake_wechat.secret, APIV3_KEY, "unconfigured-secret-value", jwt, "tok-123456",
               "qwerty-access", "abc123", "PRIVATE KEY", pem.splitlines()[3], pem.splitlines()[10]]
    assert_no_secret(caplog, *secrets)
    for secret in secrets:
        assert secret not in stream.getvalue()
    assert "elsewhere: [REDACTED]" in stream.getvalue()
    assert "[REDACTED]" in caplog.text and "appid=wx" in caplog.text  # what is not secret stays
