"""The groupbuy domain's refusals, each with its stable code."""
from __future__ import annotations

from app.errors import Conflict, NotFound


class GroupBuyNotFound(NotFound):
    code = "group_buy_not_found"


class GroupNotFound(NotFound):
    code = "group_not_found"


class GroupFull(Conflict):
    code = "group_full"


class GroupClosed(Conflict):
    code = "group_closed"


class AlreadyMember(Conflict):
    code = "already_member"


class AlreadyOpen(Conflict):
    code = "group_already_open"
