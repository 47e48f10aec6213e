from __future__ import annotations

from sqlmodel import select

from app.db import transaction
from app.wallet import service as wallet_service
from app.wallet.models import WalletAccount, WalletEntry


def package(admin, pay=10000, bonus=1000, name="充100送10") -> dict:
    r = admin.post("/admin/recharge-packages", json={"name": name, "pay_amount": pay, "bonus_amount": bonus})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def top_up(buyer, admin, pay=10000, bonus=1000) -> dict:
    r = buyer.post("/me/wallet/recharges", json={"package_id": package(admin, pay, bonus)["id"]})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def wallet(api) -> dict:
    r = api.get("/me/wallet")
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def place(buyer, product, point, qty=1) -> dict:
    r = buyer.post("/orders", json={"items": [{"sku_id": product["skus"][0]["id"], "qty": qty}],
                                    "pickup_point_id": point["pickup_point_id"]})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def pay_wallet(buyer, order_id):
    return buyer.post(f"/orders/{order_id}/pay", json={"method": "wallet"})


def books_balanced(app) -> bool:
    with app.app_context(), transaction() as s:
        return wallet_service.ledger_mismatches(s) == []


def account(app, user_id) -> WalletAccount:
    with app.app_context(), transaction() as s:
        return s.get(WalletAccount, user_id)


def entries(app, user_id) -> list[tuple[str, int, int, int, int]]:
    with app.app_context(), transaction() as s:
        return [(e.kind, e.amount, e.principal, e.bonus, e.balance_after) for e in s.exec(
            select(WalletEntry).where(WalletEntry.user_id == user_id).order_by(WalletEntry.id))]
