"""Wrong pay codes are rate-limited per leader: codes stay unguessable."""
from __future__ import annotations

import pytest

from tests.wallet.helpers import top_up


@pytest.fixture
def settings_overrides():
    return {"pay_code_wrong_limit": 3}


def test_a_leader_who_keeps_entering_wrong_codes_is_stopped_even_for_a_right_one(client, admin, buyer, leader):
    from tests.conftest import make_leader

    top_up(buyer, admin, 1000, 0)
    for i in range(3):
        r = leader[0].post("/leader/pay-code-charges", json={"code": f"66000000000000000{i}", "amount": 100})
        assert r.status_code == 404
    good = buyer.post("/me/wallet/pay-code").get_json()["code"]
    r = leader[0].post("/leader/pay-code-charges", json={"code": good, "amount": 100})
    assert r.status_code == 429 and r.get_json()["code"] == "too_many_wrong_codes"
    other, _ = make_leader(client, admin, lat=31.2304, lng=121.4737)  # another leader is not affected
    assert other.post("/leader/pay-code-charges", json={"code": good, "amount": 100}).status_code == 201
