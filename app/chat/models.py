from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import ts_field


class Conversation(SQLModel, table=True):
    """One per buyer and leader. The row is also the conversation's counter: a message takes
    `last_seq + 1` in the same UPDATE that bumps the recipient's unread count, so the row lock
    (PostgreSQL) or the write lock (SQLite) hands out each seq exactly once."""

    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("buyer_id", "leader_id", name="uq_conversations_buyer_leader"),
        # Inboxes, newest activity first (message ids grow with time across conversations).
        Index("ix_conversations_buyer_last", "buyer_id", "last_message_id"),
        Index("ix_conversations_leader_last", "leader_id", "last_message_id"),
        CheckConstraint("buyer_unread >= 0 AND leader_unread >= 0", name="unread_non_negative"),
    )

    id: int | None = Field(default=None, primary_key=True)
    buyer_id: int = Field(foreign_key="users.id")
    leader_id: int = Field(foreign_key="leaders.id")
    last_seq: int = 0
    last_message_id: int = 0  # 0: nothing said yet (such a conversation stays out of inboxes)
    buyer_unread: int = 0
    leader_unread: int = 0
    buyer_read_seq: int = 0
    leader_read_seq: int = 0
    # A leader without an open socket is told once per conversation until they read it.
    leader_noticed: bool = False
    created_at: datetime = ts_field(default_now=True)


class Message(SQLModel, table=True):
    __tablename__ = "messages"
    __table_args__ = (UniqueConstraint("conversation_id", "seq", name="uq_messages_conversation_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversations.id")
    seq: int
    sender_id: int = Field(foreign_key="users.id")
    type: str = Field(max_length=10)  # text | image | order
    text: str | None = Field(default=None, max_length=2000)
    image_url: str | None = Field(default=None, max_length=1024)
    order_id: int | None = Field(default=None, foreign_key="orders.id")
    broadcast_id: int | None = Field(default=None, foreign_key="broadcasts.id")
    created_at: datetime = ts_field(default_now=True)


class Broadcast(SQLModel, table=True):
    """An announcement: one message from the leader into each bound buyer's conversation."""

    __tablename__ = "broadcasts"

    id: int | None = Field(default=None, primary_key=True)
    leader_id: int = Field(foreign_key="leaders.id", index=True)
    text: str = Field(max_length=2000)
    segment: str = Field(default="all", max_length=16)
    recipients: int = 0
    created_at: datetime = ts_field(default_now=True)
