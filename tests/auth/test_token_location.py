"""The JWT travels in the Authorization header; `?token=` is for the WebSocket route alone (its
clients cannot set headers), through websocket_principal."""
from __future__ import annotations

import pytest

from app.auth.security import websocket_principal
from app.errors import Unauthorized


def test_a_valid_token_in_the_query_string_of_an_http_endpoint_is_a_401(client, buyer):
    r = client.get("/api/v1/me", query_string={"token": buyer.token})
    assert r.status_code == 401 and r.get_json()["code"] == "unauthorized"
    assert buyer.get("/me").status_code == 200  # the same token in the header works


def test_the_websocket_authenticates_from_the_query_string(app, buyer):
    with app.test_request_context("/api/v1/ws", query_string={"token": buyer.token}):
        principal = websocket_principal()
    assert principal.user_id == buyer.user["id"] and principal.has("buyer")


def test_the_websocket_also_takes_the_header(app, buyer):
    with app.test_request_context("/api/v1/ws", headers=buyer.headers):
        assert websocket_principal().user_id == buyer.user["id"]


@pytest.mark.parametrize("query", [{}, {"token": ""}, {"token": "garbage"}, {"jwt": "x"}])
def test_the_websocket_without_a_valid_token_is_unauthorized(app, query):
    with app.test_request_context("/api/v1/ws", query_string=query):
        with pytest.raises(Unauthorized):
            websocket_principal()


def test_a_websocket_token_for_another_key_is_unauthorized(app, make_settings, buyer):
    from app import create_app

    other = create_app(make_settings(secret_key="another-key-" + "x1y2z3w4" * 5))
    try:
        with other.test_request_context("/api/v1/ws", query_string={"token": buyer.token}):
            with pytest.raises(Unauthorized):
                websocket_principal()
    finally:
        other.extensions["linli.engine"].dispose()
