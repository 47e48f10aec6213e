"""The bargain domain's refusals, each with its stable code."""
from __future__ import annotations

from app.errors import Conflict, NotFound


class BargainNotFound(NotFound):
    code = "bargain_not_found"


class RecordNotFound(NotFound):
    code = "bargain_record_not_found"


class AlreadyStarted(Conflict):
    code = "already_started"


class CannotHelpSelf(Conflict):
    code = "cannot_help_self"


class AlreadyHelped(Conflict):
    code = "already_helped"


class Expired(Conflict):
    code = "expired"


class Completed(Conflict):
    code = "completed"


class HelpLimitReached(Conflict):
    code = "help_limit_reached"


class AlreadyOrdered(Conflict):
    code = "already_ordered"


class FloorNotReached(Conflict):
    code = "floor_not_reached"


class CutConflict(Conflict):
    code = "busy_try_again"
