"""The chat domain's refusals, each with its stable code."""
from __future__ import annotations

from app.errors import Conflict, NotFound, Unprocessable


class ConversationNotFound(NotFound):
    code = "conversation_not_found"


class OwnConversation(Conflict):
    code = "own_conversation"


class OrderNotInConversation(Unprocessable):
    code = "order_not_in_conversation"


class LeaderHasNoPoint(Conflict):
    """A leader without a pickup point has no bound buyers to write to (409: the leader's state,
    unlike an order's no_pickup_point, which is a 422 about the request)."""
    code = "leader_has_no_point"
