"""Login (WeChat or dev), the caller's profile and their bound pickup point."""
from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.db import apply_changes

from app.auth.models import User
from app.auth.security import roles_of
from app.leader.models import Leader
from app.pickup import service as pickup_service


def upsert_user(session: Session, *, openid: str, unionid: str | None = None, nickname: str | None = None,
                admin: bool | None = None) -> User:
    user = session.exec(select(User).where(User.openid == openid)).first()
    if user is None:
        user = User(openid=openid, unionid=unionid, nickname=nickname or f"邻居{openid[-4:]}")
        try:
            with session.begin_nested():  # two first logins at once: one insert wins
                session.add(user)
                session.flush()
        except IntegrityError:
            user = session.exec(select(User).where(User.openid == openid)).one()
    if nickname:
        user.nickname = nickname
    if unionid:
        user.unionid = unionid
    if admin is not None:
        user.is_admin = admin
    session.add(user)
    session.flush()
    return user


def leader_of(session: Session, user_id: int) -> Leader | None:
    return session.exec(select(Leader).where(Leader.user_id == user_id)).first()


def profile(session: Session, user_id: int) -> dict:
    user = session.get(User, user_id)
    leader = leader_of(session, user_id)
    return {"id": user.id, "nickname": user.nickname, "roles": roles_of(user, leader),
            "pickup_point_id": user.pickup_point_id,
            "leader_id": leader.id if leader and leader.active else None,
            "leader_pickup_point_id": _point_of(session, leader) if leader and leader.active else None,
            "phone": user.phone}


def _point_of(session: Session, leader: Leader) -> int | None:
    from app.pickup.models import PickupPoint

    return session.exec(select(PickupPoint.id).where(PickupPoint.leader_id == leader.id)).first()


def update_profile(session: Session, *, user_id: int, **changes) -> User:
    return apply_changes(session, session.get(User, user_id), changes)


def bind_pickup_point(session: Session, *, user_id: int, pickup_point_id: int) -> User:
    pickup_service.require_active_point(session, pickup_point_id)
    return update_profile(session, user_id=user_id, pickup_point_id=pickup_point_id)
