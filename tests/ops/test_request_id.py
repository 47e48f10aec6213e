"""Every response carries X-Request-ID: the caller's if it is sane, else a fresh one."""
from __future__ import annotations

import re

import pytest

FRESH = re.compile(r"[0-9a-f]{32}")


def test_a_response_carries_a_fresh_request_id(client):
    a, b = client.get("/healthz"), client.get("/healthz")
    assert FRESH.fullmatch(a.headers["X-Request-ID"]) and a.headers["X-Request-ID"] != b.headers["X-Request-ID"]


@pytest.mark.parametrize("sent", ["abc-123", "A.b_c-9", "x" * 128, "0f8fad5b-d9cb-469f-a165-70867728950e"])
def test_a_sane_request_id_is_echoed(client, sent):
    assert client.get("/healthz", headers={"X-Request-ID": sent}).headers["X-Request-ID"] == sent


@pytest.mark.parametrize("sent", ["x" * 129, "a b", "a\u202eb", "id;rm -rf", "<script>", "ümlaut", "a/b"])
def test_an_odd_request_id_is_replaced(client, sent):
    got = client.get("/healthz", headers={"X-Request-ID": sent}).headers["X-Request-ID"]
    assert FRESH.fullmatch(got)


def test_errors_carry_the_request_id_too(client, buyer):
    h = {"X-Request-ID": "err-1"}
    assert client.get("/api/v1/me", headers=h).headers["X-Request-ID"] == "err-1"  # 401 before validation
    assert client.get("/api/v1/nowhere", headers=h).headers["X-Request-ID"] == "err-1"  # 404
    r = client.post("/api/v1/auth/dev-login", data="{", content_type="application/json", headers=h)
    assert r.status_code == 400 and r.headers["X-Request-ID"] == "err-1"
    r = buyer.patch("/me", json={"nickname": 5}, headers=h)
    assert r.status_code == 422 and r.headers["X-Request-ID"] == "err-1"
