"""Issue 18: the OpenAPI document says what the server does: optional bodies are optional, the
cursor is an opaque token whose other values are a 422, and rules across fields are stated."""
from __future__ import annotations

import pytest

from tests.conftest import login
from tests.groupbuy.helpers import make_campaign


@pytest.fixture
def spec(app):
    return app.api_doc


@pytest.mark.parametrize("path", ["/api/v1/group-buys/{group_buy_id}/groups", "/api/v1/groups/{group_id}/join",
                                  "/api/v1/bargain-records/{record_id}/order"])
def test_bodies_the_server_reads_as_empty_are_optional_in_the_document(spec, path):
    body = spec["paths"][path]["post"]["requestBody"]
    assert body["required"] is False and "Optional" in body["description"]


def test_bodies_with_required_fields_stay_required(spec):
    assert spec["paths"]["/api/v1/orders"]["post"]["requestBody"]["required"] is True
    assert spec["paths"]["/api/v1/conversations/{conversation_id}/messages"]["post"]["requestBody"]["required"] is True


def test_a_group_opened_and_joined_without_any_body(client, admin, leader, product):
    _, point = leader
    campaign = make_campaign(admin, product["skus"][0]["id"])
    opener, joiner = login(client, "nobody-opener"), login(client, "nobody-joiner")
    for api in (opener, joiner):
        assert api.put("/me/pickup-point", json={"pickup_point_id": point["pickup_point_id"]}).status_code == 200
    r = client.post(f"/api/v1/group-buys/{campaign['id']}/groups", headers=opener.headers)
    assert r.status_code == 201, r.get_json()
    r = client.post(f"/api/v1/groups/{r.get_json()['group']['id']}/join", headers=joiner.headers)
    assert r.status_code == 201, r.get_json()


def test_every_cursor_is_documented_as_an_opaque_token_with_its_422(spec):
    seen = 0
    for path, item in spec["paths"].items():
        for method, op in item.items():
            for p in op.get("parameters", []):
                if p["name"] != "cursor":
                    continue
                seen += 1
                schema = p["schema"]
                text = p.get("description") or schema.get("description") or ""
                assert "Opaque" in text and "422" in text, (method, path)
                assert any("pattern" in s for s in schema.get("anyOf", [schema])), (method, path)
                assert "422" in op["responses"], (method, path)
    assert seen >= 10


@pytest.mark.parametrize("schema, words", [
    ("GroupBuyCreate", ["`ends_at` after", "`starts_at`", "opener_price", "virtual_fill_max_missing"]),
    ("BargainCreate", ["`ends_at` after", "helpers_needed"]),
    ("FlashSaleCreate", ["`ends_at` after `starts_at`", "invalid_window"]),
    ("MessageCreate", ["`text` for", "type=text", "`image_url`", "`order_id`"]),
])
def test_rules_across_fields_are_stated(spec, schema, words):
    description = spec["components"]["schemas"][schema].get("description") or ""
    for word in words:
        assert word in description, (schema, word, description)
