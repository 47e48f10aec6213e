"""Demo data for `make run`: an operator, leaders with pickup points around Hangzhou, products.
Loaded once: a second run finds the demo operator and does nothing."""
from __future__ import annotations

from sqlmodel import select

from app.auth import service as auth_service
from app.auth.models import User
from app.catalog import service as catalog_service
from app.db import transaction
from app.leader import service as leader_service

LEADERS = [
    ("demo-leader-1", "王姐", "13800000001", "翠苑一区自提点", "杭州市西湖区翠苑一区12幢底商", 30.2897, 120.1324),
    ("demo-leader-2", "李叔", "13800000002", "文三路便利店", "杭州市西湖区文三路259号", 30.2775, 120.1410),
    ("demo-leader-3", "张老师", "13800000003", "古荡新村团购点", "杭州市西湖区古荡新村东区门卫旁", 30.2840, 120.1190),
    ("demo-leader-4", "陈阿姨", "13800000004", "湖滨社区驿站", "杭州市上城区湖滨路23号", 30.2590, 120.1650),
]
PRODUCTS = [
    ("麒麟西瓜", "甜度高，现摘现发", [("一个装约4斤", 1990, 200), ("两个装约8斤", 3690, 100)]),
    ("土鸡蛋", "农家散养", [("30枚装", 2990, 300)]),
    ("千岛湖有机鱼头", "新鲜冷链", [("约2斤", 4590, 50)]),
    ("本地小青菜", "当日采摘", [("500克", 390, 500)]),
    ("阳光玫瑰葡萄", "香甜脆爽", [("一串约1.5斤", 2580, 150)]),
]


def seed(force: bool = False) -> str:
    with transaction() as s:
        if not force and s.exec(select(User.id).where(User.openid == "demo-admin")).first() is not None:
            return "demo data already loaded"
        auth_service.upsert_user(s, openid="demo-admin", nickname="运营小邻", admin=True)
        for openid, name, phone, point, address, lat, lng in LEADERS:
            user = auth_service.upsert_user(s, openid=openid, nickname=name)
            if auth_service.leader_of(s, user.id) is not None:
                continue
            app_ = leader_service.apply(s, user_id=user.id, real_name=name, phone=phone, point_name=point,
                                        point_address=address, lat=lat, lng=lng, service_radius_m=3000,
                                        opening_hours="08:00-20:00")
            leader_service.approve(s, application_id=app_.id)
        for name, desc, skus in PRODUCTS:
            catalog_service.create_product(s, name=name, description=desc, images=[],
                                           skus=[{"name": k, "price": p, "stock": q} for k, p, q in skus])
        auth_service.upsert_user(s, openid="demo-buyer", nickname="小邻居")
    return (f"demo data loaded: operator openid demo-admin, buyer demo-buyer, {len(LEADERS)} leaders "
            f"(demo-leader-1..{len(LEADERS)}), {len(PRODUCTS)} products")
