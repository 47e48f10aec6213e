"""The OpenAPI document as generated clients read it, and the server keeping to what it says:
operationIds, summaries, public operations, one Problem schema with every error code, one `loc`
form for validation errors, the same answer for every malformed id in a path, Retry-After only
where it means something, and text rules written as patterns the server applies."""
from __future__ import annotations

import base64
import re

import pytest

from app.errors import HTTP_CODES, DomainError, error_codes
from app.http import HTTPS_URL_PATTERN, MULTI_LINE_PATTERN, ONE_LINE_PATTERN
from tests.conftest import BACKENDS

ONE_BACKEND = ["sqlite" if "sqlite" in BACKENDS else BACKENDS[0]]
METHODS = ("get", "put", "post", "patch", "delete")
PUBLIC = {"wechat_login", "dev_login", "list_nearby_pickup_points", "get_pickup_point", "list_products",
          "get_product", "wechatpay_notify", "wechatpay_transfer_notify", "wechat_push_verify", "wechat_push",
          "list_flash_sales", "list_bargains", "list_group_buys", "list_recharge_packages", "list_member_levels"}


@pytest.fixture
def spec(client):
    return client.get("/api/v1/openapi.json").get_json()


def operations(spec):
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield path, method, op


def resolve(spec, schema):
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


@pytest.mark.parametrize("backend", ONE_BACKEND)
def test_every_operation_has_a_short_unique_snake_case_operation_id_and_a_summary(spec):
    ids = []
    for path, method, op in operations(spec):
        assert re.fullmatch(r"[a-z][a-z0-9_]*", op.get("operationId", "")), (method, path, op.get("operationId"))
        assert len(op["operationId"]) <= 40, op["operationId"]
        assert op.get("summary", "").strip(), (method, path)
        ids.append(op["operationId"])
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert {"place_order", "pay_order", "list_orders", "get_me", "get_order", "cancel_order"} <= set(ids)


@pytest.mark.parametrize("backend", ONE_BACKEND)
def test_public_operations_say_security_empty_and_the_others_ask_for_the_bearer_token(spec):
    for path, method, op in operations(spec):
        assert "security" in op, (method, path)
        if op["operationId"] in PUBLIC:
            assert op["security"] == [], (method, path)
        else:
            assert op["security"] == [{"jwt": []}], (method, path)


@pytest.mark.parametrize("backend", ONE_BACKEND)
def test_every_problem_response_refers_to_the_one_problem_schema(spec):
    assert "Problem" in spec["components"]["schemas"]
    assert not [n for n in spec["components"]["schemas"] if "ValidationError" in n]
    for path, method, op in operations(spec):
        for status, resp in op["responses"].items():
            if status.startswith(("4", "5")):
                assert resp["content"] == {"application/problem+json": {
                    "schema": {"$ref": "#/components/schemas/Problem"}}}, (method, path, status)


@pytest.mark.parametrize("backend", ONE_BACKEND)
def test_the_problem_code_enum_lists_every_code_a_client_can_meet(spec):
    enum = spec["components"]["schemas"]["Problem"]["properties"]["code"]["enum"]
    collected = set(HTTP_CODES.values()) | {"http_error"}
    todo = [DomainError]
    while todo:
        cls = todo.pop()
        collected.add(cls.code)
        todo.extend(cls.__subclasses__())
    assert set(enum) == collected == set(error_codes())
    assert {"validation_error", "unauthorized", "rate_limited", "no_pickup_point", "out_of_stock", "invalid_state",
            "unknown_code", "signature_invalid", "wechat_code_invalid", "payment_expired", "uri_too_long",
            "request_header_fields_too_large", "qty_limit_exceeded", "too_many_unpaid_orders",
            "refund_exceeds_payment", "pickup_point_unavailable"} <= set(enum)


@pytest.mark.parametrize("backend", ONE_BACKEND)
def test_retry_after_is_documented_on_429_and_503_only(spec):
    seen = set()
    for path, method, op in operations(spec):
        for status, resp in op["responses"].items():
            has = "Retry-After" in resp.get("headers", {})
            assert has == (status in ("429", "503")), (method, path, status)
            seen.add(status) if has else None
    assert seen == {"429", "503"}


class TestWithTheRateLimiterOn:
    @pytest.fixture
    def settings_overrides(self):
        return {"ratelimit_enabled": True, "ratelimit_auth": "2 per minute"}

    @pytest.mark.parametrize("backend", ONE_BACKEND)
    def test_retry_after_is_sent_on_a_429_and_not_on_answers_that_are_not_asked_to_wait(self, client, buyer):
        ok = client.get("/api/v1/products")
        assert ok.status_code == 200 and "X-RateLimit-Limit" in ok.headers  # the limiter did count it
        assert "Retry-After" not in ok.headers
        assert "Retry-After" not in buyer.get("/orders/999999").headers  # a 404 is no reason to wait
        answers = [client.post("/api/v1/auth/dev-login", json={"openid": "spam"}) for _ in range(3)]
        assert [r.status_code for r in answers] == [200, 429, 429]  # the buyer's login took one
        assert "Retry-After" not in answers[0].headers
        assert int(answers[-1].headers["Retry-After"]) >= 0


# ---- one loc form ---------------------------------------------------------------------------------

def locs(r):
    assert r.status_code == 422, r.get_data(as_text=True)
    body = r.get_json()
    assert body["code"] == "validation_error"
    for e in body["errors"]:
        assert set(e) >= {"loc", "msg", "type"}, e
    return [e["loc"] for e in body["errors"]]


@pytest.mark.parametrize("backend", ONE_BACKEND)
def test_validation_errors_name_the_request_part_first_everywhere(client, buyer, leader, product):
    _, approved = leader
    sku = product["skus"][0]["id"]
    # flask-openapi3's own validation: body, query, path.
    assert ["body", "items", 0, "qty"] in locs(buyer.post("/orders", json={"items": [{"sku_id": sku, "qty": 0}]}))
    assert ["body", "items"] in locs(buyer.post("/orders", json={}))
    assert ["query", "limit"] in locs(buyer.get("/orders", query_string={"limit": 0}))
    assert ["path", "order_id"] in locs(buyer.get("/orders/0"))
    # The strict JSON re-validation (a string is not an integer) and the NUL check after it.
    assert ["body", "items", 0, "sku_id"] in locs(buyer.post("/orders", json={"items": [{"sku_id": str(sku),
                                                                                          "qty": 1}]}))
    assert ["body", "nickname"] in locs(buyer.patch("/me", json={"nickname": "a\x00"}))
    # Cursors: one that breaks the documented pattern, and one that fits it but names no row.
    assert ["query", "cursor"] in locs(buyer.get("/orders", query_string={"cursor": "nope"}))
    forged = base64.urlsafe_b64encode(b"id:0").decode().rstrip("=")
    assert re.fullmatch(r"^aWQ6[A-Za-z0-9_-]{2,14}$", forged)
    assert ["query", "cursor"] in locs(buyer.get("/orders", query_string={"cursor": forged}))
    # Headers checked by hand.
    assert ["header", "Idempotency-Key"] in locs(buyer.post(
        "/orders", json={"items": [{"sku_id": sku, "qty": 1}], "pickup_point_id": approved["pickup_point_id"]},
        headers={"Idempotency-Key": "a\tb"}))
    # A body that is not an object at all.
    assert ["body"] in locs(buyer.post("/orders", json=[1, 2]))


# ---- ids in paths -----------------------------------------------------------------------------------

def id_operations(spec):
    for path, method, op in operations(spec):
        for p in op.get("parameters", []):
            if p["in"] == "path" and resolve(spec, p["schema"]).get("type") == "integer":
                yield path, method, p["name"]


@pytest.mark.parametrize("backend", ONE_BACKEND)
@pytest.mark.parametrize("bad", ["abc", "0", "-1", "1.5", str(2**31), str(2**64), "%E4%B8%80"])
def test_every_id_in_a_path_that_names_no_row_gets_the_same_422(client, admin, leader, spec, bad):
    found = list(id_operations(spec))
    assert len(found) >= 10, found
    for path, method, name in found:
        url = re.sub(r"\{[^}]+\}", bad, path)
        caller = leader[0] if path.startswith("/api/v1/leader/") else admin  # the role the operation is for
        r = getattr(client, method)(url, json={}, headers=caller.headers)
        assert r.status_code == 422, (method, url, r.status_code, r.get_data(as_text=True))
        assert r.get_json()["code"] == "validation_error"
        assert ["path", name] in [e["loc"] for e in r.get_json()["errors"]], (method, url, r.get_json())


# ---- the text rules, written in the document ------------------------------------------------------

def request_string_schemas(spec):
    """(where, schema) of every string a request can carry: parameters and JSON bodies."""
    def walk(schema, where):
        schema = resolve(spec, schema)
        if schema.get("type") == "string":
            yield where, schema
        for key in ("anyOf", "oneOf", "allOf"):
            for i, sub in enumerate(schema.get(key, [])):
                yield from walk(sub, where)
        for name, sub in schema.get("properties", {}).items():
            yield from walk(sub, f"{where}.{name}")
        if "items" in schema:
            yield from walk(schema["items"], f"{where}[]")

    for path, method, op in operations(spec):
        for p in op.get("parameters", []):
            yield from walk(p["schema"], f"{method} {path} {p['in']}:{p['name']}")
        for ctype, media in op.get("requestBody", {}).get("content", {}).items():
            yield from walk(media["schema"], f"{method} {path} body")


@pytest.mark.parametrize("backend", ONE_BACKEND)
def test_every_string_a_request_carries_has_a_documented_shape_that_refuses_nul(spec):
    strings = list(request_string_schemas(spec))
    assert len(strings) > 20
    for where, schema in strings:
        assert schema.get("pattern") or schema.get("enum") or schema.get("format"), where
        if "pattern" in schema:
            assert not re.search(schema["pattern"], "a\x00b"), where


@pytest.mark.parametrize("backend", ONE_BACKEND)
def test_free_text_fields_document_the_text_rule(spec):
    patterns = {where: schema.get("pattern") for where, schema in request_string_schemas(spec)}
    expect_one_line = ["post /api/v1/admin/products body.name", "post /api/v1/admin/products body.skus[].name",
                       "patch /api/v1/me body.nickname", "post /api/v1/leader-applications body.real_name",
                       "post /api/v1/leader-applications body.pickup_point.address",
                       "patch /api/v1/leader/pickup-point body.opening_hours"]
    for where in expect_one_line:
        assert patterns[where] == ONE_LINE_PATTERN, where
    assert patterns["post /api/v1/orders body.note"] == f"^$|{MULTI_LINE_PATTERN}"
    assert patterns["post /api/v1/admin/products body.description"] == f"^$|{MULTI_LINE_PATTERN}"
    assert patterns["post /api/v1/admin/leader-applications/{application_id}/reject body.reason"] \
        == MULTI_LINE_PATTERN
    assert patterns["post /api/v1/admin/products body.images[]"] == HTTPS_URL_PATTERN
    assert patterns["get /api/v1/orders query:cursor"]


SAMPLES = ["好邻居", "Wang Fang", "西瓜 🍉", "a", " 前后有空格 ", "王\u202e芳", "\u200b", "a\u200db", "\ufeffa", "a\x07",
           "a\x85", "a\x9f", "a\x7f", "\x00", "", " ", "\u3000", "\xa0\u2003", "a\nb", "a\tb", "a\r\nb", "a\u2028b",
           "\u2066a\u2069", "\ud800", "a\udfff"]


@pytest.mark.parametrize("backend", ONE_BACKEND)
def test_the_documented_pattern_and_the_server_agree_on_what_text_is(client, buyer, product):
    """The pattern the document gives is the one the server applies: a client that checks it
    (as a generated client or schemathesis does) is never refused by the server, nor the reverse."""
    from app.auth.schemas import ProfileUpdate
    from app.order.schemas import OrderCreate

    nickname = re.compile(ProfileUpdate.model_json_schema()["properties"]["nickname"]["anyOf"][0]["pattern"])
    note = re.compile(f"^$|{MULTI_LINE_PATTERN}")
    sku = product["skus"][0]["id"]
    for text in SAMPLES:
        ok = True
        try:
            ProfileUpdate.model_validate({"nickname": text})
        except Exception:
            ok = False
        assert ok == bool(nickname.fullmatch(text)), repr(text)
        ok = True
        try:
            OrderCreate.model_validate({"items": [{"sku_id": sku, "qty": 1}], "note": text})
        except Exception:
            ok = False
        assert ok == bool(note.fullmatch(text)), repr(text)
    assert buyer.patch("/me", json={"nickname": " 前后有空格 "}).status_code == 200


@pytest.mark.parametrize("backend", ONE_BACKEND)
def test_the_no_pickup_point_rule_is_in_the_document(spec):
    op = spec["paths"]["/api/v1/orders"]["post"]
    body = resolve(spec, op["requestBody"]["content"]["application/json"]["schema"])
    assert "no_pickup_point" in body["properties"]["pickup_point_id"]["description"]
    assert "no_pickup_point" in op["responses"]["422"]["description"]
