"""The leader domain's refusals, each with its stable code."""
from __future__ import annotations

from app.errors import Conflict, NotFound


class ApplicationNotFound(NotFound):
    code = "application_not_found"


class ApplicationPending(Conflict):
    code = "application_pending"


class AlreadyLeader(Conflict):
    code = "already_leader"


class LeaderNotFound(NotFound):
    code = "leader_not_found"
