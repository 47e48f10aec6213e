from __future__ import annotations

from pydantic import BaseModel, Field

from app.http import JsonBody
from app.subscribe.models import Kind


class SubscriptionsAccepted(JsonBody):
    accepted: list[Kind] = Field(max_length=len(Kind), description=(
        "Kinds the user accepted in wx.requestSubscribeMessage: order_ready, group_result, bargain_completed, "
        "manifest_ready, chat_unread, coupon_granted; each gives one more one-time send"))


class Grants(BaseModel):
    grants: dict[str, int] = Field(description="Sends left per kind (every kind, 0 if none)")
