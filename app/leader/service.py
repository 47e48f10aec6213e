"""Becoming a leader: apply, and an operator approves (leader + pickup point) or rejects."""
from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.db import apply_changes, get_or_raise, utcnow
from app.errors import InvalidState
from app.leader.errors import AlreadyLeader, ApplicationNotFound, ApplicationPending, LeaderNotFound
from app.leader.models import Leader, LeaderApplication
from app.pagination import keyset
from app.pickup import service as pickup_service
from app.pickup.errors import PickupPointNotFound, PickupPointUnavailable

if TYPE_CHECKING:
    from app.pickup.models import PickupPoint


def apply(session: Session, *, user_id: int, real_name: str, phone: str, point_name: str,
          point_address: str, lat: float, lng: float, service_radius_m: int,
          opening_hours: str | None) -> LeaderApplication:
    if session.exec(select(Leader.id).where(Leader.user_id == user_id)).first() is not None:
        raise AlreadyLeader("You are already a leader.")
    app_ = LeaderApplication(user_id=user_id, real_name=real_name, phone=phone, point_name=point_name,
                             point_address=point_address, lat=lat, lng=lng, service_radius_m=service_radius_m,
                             opening_hours=opening_hours)
    try:
        # The partial unique index (user_id) WHERE status = 'pending' is the rule; a check
        # first would let two taps at once both pass it.
        with session.begin_nested():
            session.add(app_)
            session.flush()
    except IntegrityError:
        pending = session.exec(select(LeaderApplication.id).where(
            LeaderApplication.user_id == user_id, LeaderApplication.status == "pending")).first()
        raise ApplicationPending(f"Application {pending} is still pending.", application_id=pending) from None
    return app_


def list_applications(session: Session, *, status: str | None, before_id: int | None, limit: int):
    q = select(LeaderApplication)
    if status:
        q = q.where(LeaderApplication.status == status)
    return list(session.exec(keyset(q, LeaderApplication.id, before_id, limit)))


def _decide(session: Session, application_id: int, status: str, reason: str | None = None) -> LeaderApplication:
    # Only a pending application can be decided, once, even with two operators clicking at once.
    done = session.exec(
        update(LeaderApplication)
        .where(LeaderApplication.id == application_id, LeaderApplication.status == "pending")
        .values(status=status, reason=reason, decided_at=utcnow())
    ).rowcount
    app_ = get_or_raise(session, LeaderApplication, application_id, ApplicationNotFound(f"Application {application_id} does not exist."))
    if not done:
        raise InvalidState(f"Application {application_id} is already {app_.status}.")
    session.refresh(app_)
    return app_


def approve(session: Session, *, application_id: int) -> tuple[Leader, int]:
    app_ = _decide(session, application_id, "approved")
    if session.exec(select(Leader.id).where(Leader.user_id == app_.user_id)).first() is not None:
        raise AlreadyLeader("The applicant is already a leader.")
    leader = Leader(user_id=app_.user_id, real_name=app_.real_name, phone=app_.phone)
    try:
        # leaders.user_id is unique: of two approvals for one user racing, the second waits
        # for the first and is told, not a 500.
        with session.begin_nested():
            session.add(leader)
            session.flush()
    except IntegrityError:
        raise AlreadyLeader("The applicant is already a leader.") from None
    point = pickup_service.create_point(
        session, leader_id=leader.id, name=app_.point_name, address=app_.point_address, lat=app_.lat,
        lng=app_.lng, service_radius_m=app_.service_radius_m, opening_hours=app_.opening_hours)
    app_.leader_id = leader.id
    session.add(app_)
    session.flush()
    return leader, point.id


def reject(session: Session, *, application_id: int, reason: str) -> LeaderApplication:
    return _decide(session, application_id, "rejected", reason)


def get_leader(session: Session, leader_id: int) -> Leader:
    leader = get_or_raise(session, Leader, leader_id, LeaderNotFound(f"Leader {leader_id} does not exist."))
    return leader


def update_leader(session: Session, *, leader_id: int, **changes) -> Leader:
    return apply_changes(session, get_leader(session, leader_id), changes)


def leader_of_user(session: Session, *, user_id: int) -> Leader | None:
    return session.exec(select(Leader).where(Leader.user_id == user_id)).first()


def leader_and_point(session: Session, *, user_id: int) -> tuple[Leader | None, int | None]:
    """The user's leader row (active or not) and its pickup point's id; (None, None) for a buyer."""
    leader = leader_of_user(session, user_id=user_id)
    if leader is None:  # most callers are buyers: one indexed read and done
        return None, None
    return leader, pickup_service.point_id_of_leader(session, leader_id=leader.id)


def require_open_point(session: Session, *, pickup_point_id: int) -> PickupPoint:
    """A point buyers may bind to and order at: it exists and is open (an operator's switch;
    a closed point answers like a missing one, 404) and its leader is not suspended (409
    pickup_point_unavailable, so the point's own buyers learn why); nearby hides both."""
    point = pickup_service.require_point(session, pickup_point_id)
    if not point.active:
        raise PickupPointNotFound(f"Pickup point {pickup_point_id} does not exist or is closed.")
    leader = session.get(Leader, point.leader_id)
    if leader is None or not leader.active:
        raise PickupPointUnavailable(
            f"Pickup point {pickup_point_id} is not taking orders now; choose another point.",
            pickup_point_id=pickup_point_id)
    return point


def open_points(session: Session, *, point_ids: set[int]) -> dict[int, int]:
    """Of the points given, those taking orders now (open, leader not suspended), as
    point id → leader id: the set-based form of require_open_point."""
    if not point_ids:
        return {}
    from_point = pickup_service.open_point_leaders(session, point_ids=point_ids)
    active = set(session.exec(select(Leader.id).where(Leader.id.in_(set(from_point.values())),
                                                      Leader.active.is_(True))).all())
    return {pid: lid for pid, lid in from_point.items() if lid in active}
