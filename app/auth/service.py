"""Login (WeChat or dev), the caller's profile and their bound pickup point."""
from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.auth.models import User
from app.auth.security import roles_of
from app.db import apply_changes, utcnow
from app.leader import service as leader_service
from app.pagination import keyset


def upsert_user(session: Session, *, openid: str, unionid: str | None = None, nickname: str | None = None,
                admin: bool | None = None) -> User:
    user = session.exec(select(User).where(User.openid == openid)).first()
    if user is None:
        user = User(openid=openid, unionid=unionid, nickname=nickname or f"邻居{openid[-4:]}")
        try:
            # Two first logins at once: users.openid is unique, so one insert wins and the other
            # (on PostgreSQL it waits for the winner's commit) reads the winner's row.
            with session.begin_nested():
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


def leader_of(session: Session, user_id: int):
    return leader_service.leader_of_user(session, user_id=user_id)


def profile(session: Session, user_id: int) -> dict:
    user = session.get(User, user_id)
    leader, point_id = leader_service.leader_and_point(session, user_id=user_id)
    active = leader is not None and leader.active
    return {"id": user.id, "nickname": user.nickname, "roles": roles_of(user, leader),
            "pickup_point_id": user.pickup_point_id,
            "leader_id": leader.id if active else None,
            "leader_pickup_point_id": point_id if active else None,
            "phone": user.phone}


def update_profile(session: Session, *, user_id: int, **changes) -> User:
    user = session.get(User, user_id)
    # bound_at dates the binding to this point: binding again to the same point keeps it (a buyer
    # tapping their own point again is not a new fan).
    if "pickup_point_id" in changes and changes["pickup_point_id"] != user.pickup_point_id:
        changes["bound_at"] = utcnow()
    return apply_changes(session, user, changes)


def bind_pickup_point(session: Session, *, user_id: int, pickup_point_id: int) -> User:
    leader_service.require_open_point(session, pickup_point_id=pickup_point_id)
    return update_profile(session, user_id=user_id, pickup_point_id=pickup_point_id)


# ---- for other domains (keyword-only, no User rows leave this domain) ------------------------

def lock_buyer(session: Session, *, user_id: int) -> int | None:
    """Lock the buyer's row until the transaction ends and return their bound pickup point.

    Use cases that count what a buyer holds (unpaid orders) take this lock first, so two
    requests of one buyer are counted one after the other (SQLite's writer lock does the same).
    """
    return session.exec(select(User.pickup_point_id).where(User.id == user_id).with_for_update()).first()


def openid_of(session: Session, *, user_id: int) -> str:
    return session.exec(select(User.openid).where(User.id == user_id)).one()


def nicknames(session: Session, *, user_ids: list[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    return dict(session.exec(select(User.id, User.nickname).where(User.id.in_(set(user_ids)))).all())


def users_with_phone_tail(phone_tail: str):
    """A subquery of the ids of users whose phone ends with phone_tail (the operator's search)."""
    return select(User.id).where(User.phone.like(f"%{phone_tail}"))


def bound_points(session: Session, *, user_ids: set[int]) -> dict[int, int | None]:
    """Each user's bound pickup point (None: not bound), read as one set."""
    if not user_ids:
        return {}
    return dict(session.exec(select(User.id, User.pickup_point_id).where(User.id.in_(user_ids))).all())


def list_buyers(session: Session, *, phone_tail: str | None, before_id: int | None, limit: int) -> list[User]:
    """Every user, newest first (the operator's list), narrowed by the phone's last digits."""
    q = select(User)
    if phone_tail:
        q = q.where(User.id.in_(users_with_phone_tail(phone_tail)))
    return list(session.exec(keyset(q, User.id, before_id, limit)))
