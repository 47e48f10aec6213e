from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from app.http import HttpsUrl, Id, JsonBody, QueryModel, Text
from app.pagination import PageQuery
from app.workbench.fans import Segment

MessageType = Literal["text", "image", "order"]
MAX_SEQ = 2**31 - 1


class ConversationCreate(JsonBody):
    leader_id: Id


class ConversationPath(BaseModel):
    conversation_id: Id


class Party(BaseModel):
    user_id: int
    nickname: str
    leader_id: int | None = Field(default=None, description="Set when this party is the leader")
    pickup_point_name: str | None = None


class ConversationCreated(BaseModel):
    id: int
    buyer: Party
    leader: Party


class OrderCardItem(BaseModel):
    product_name: str
    sku_name: str
    qty: int
    amount: int


class OrderCard(BaseModel):
    id: int
    status: str
    total: int
    delivery_date: date | None
    items: list[OrderCardItem]


class MessagePublic(BaseModel):
    id: int
    conversation_id: int
    seq: int
    sender_id: int
    type: MessageType
    text: str | None = None
    image_url: str | None = None
    order_id: int | None = None
    order: OrderCard | None = Field(default=None, description="The order card, as the order is now")
    broadcast_id: int | None = None
    created_at: datetime


def message_public(m, card: dict | None = None) -> MessagePublic:
    return MessagePublic(id=m.id, conversation_id=m.conversation_id, seq=m.seq, sender_id=m.sender_id, type=m.type,
                         text=m.text, image_url=m.image_url, order_id=m.order_id,
                         order=OrderCard(**card) if card else None, broadcast_id=m.broadcast_id,
                         created_at=m.created_at)


class ConversationListItem(BaseModel):
    id: int
    role: Literal["buyer", "leader"] = Field(description="My side of this conversation")
    other_party: Party
    last_message: MessagePublic | None
    unread_count: int


class ConversationList(BaseModel):
    items: list[ConversationListItem]
    next_cursor: str | None = None


class MessageCreate(JsonBody):
    """A message. The field its `type` names is required (422 validation_error otherwise): `text` for
    type=text, `image_url` for type=image, `order_id` for type=order."""

    type: MessageType
    text: Text[2000] | None = Field(default=None, description="type=text: 1..2000 characters")
    image_url: HttpsUrl | None = Field(default=None, description="type=image: an https URL")
    order_id: Id | None = Field(default=None, description="type=order: an order of this buyer at this leader's point")

    @model_validator(mode="after")
    def _field_for_type(self):
        needed = {"text": "text", "image": "image_url", "order": "order_id"}[self.type]
        if getattr(self, needed) is None:
            raise ValueError(f"a {self.type} message needs `{needed}`")
        return self


class MessagesQuery(QueryModel):
    after_seq: int | None = Field(default=None, ge=0, le=MAX_SEQ,
                                  description="Oldest first after this seq (catch-up after a reconnect)")
    before_seq: int | None = Field(default=None, ge=1, le=MAX_SEQ, description="The page before this seq")
    limit: int = Field(default=50, ge=1, le=100)


class MessageList(BaseModel):
    items: list[MessagePublic] = Field(description="In seq order")
    has_more: bool = Field(description="More messages lie beyond this page in the direction asked")
    next_cursor: str | None = Field(default=None, description="Always null: page by seq instead")


class ReadBody(JsonBody):
    up_to_seq: int = Field(ge=0, le=MAX_SEQ)


class ReadResult(BaseModel):
    conversation_id: int
    read_seq: int
    unread_count: int


class BroadcastCreate(JsonBody):
    text: Text[2000]
    segment: Segment = Field(default="all", description=(
        "Who gets it: `all` (every buyer bound to my point) or only the fans of a segment, exactly as "
        "`GET /leader/fans?segment=` lists them (`new`, `active`, `lapsed`)"))


class BroadcastCreated(BaseModel):
    id: int
    recipients: int


class InboxQuery(PageQuery):
    pass
