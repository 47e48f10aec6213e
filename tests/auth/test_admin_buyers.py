"""GET /admin/buyers: every user newest first, searched by the phone's last digits, paged;
operators only. On both databases."""
from __future__ import annotations

from tests.conftest import login


def test_operators_list_and_search_buyers(client, admin):
    a = login(client, "buyer-a", nickname="甲")
    b = login(client, "buyer-b", nickname="乙")
    assert a.patch("/me", json={"phone": "13800001234"}).status_code == 200
    r = admin.get("/admin/buyers")
    assert r.status_code == 200, r.get_json()
    assert [u["id"] for u in r.get_json()["items"]][:2] == [b.user["id"], a.user["id"]]
    r = admin.get("/admin/buyers", query_string={"phone_tail": "1234"})
    assert [(u["id"], u["nickname"], u["phone"]) for u in r.get_json()["items"]] == [(a.user["id"], "甲", "13800001234")]
    first = admin.get("/admin/buyers", query_string={"limit": 1}).get_json()
    rest = admin.get("/admin/buyers", query_string={"limit": 1, "cursor": first["next_cursor"]}).get_json()
    assert [u["id"] for u in rest["items"]] == [a.user["id"]]
    assert admin.get("/admin/buyers", query_string={"phone_tail": "12"}).status_code == 422
    assert a.get("/admin/buyers").status_code == 403
