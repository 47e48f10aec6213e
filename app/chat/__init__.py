"""Buyer–leader chat (联系团长): conversations, per-conversation ordered messages, the leader's
announcements to their point's buyers, and the live push of messages and order updates to sockets."""
