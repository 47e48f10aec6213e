"""Subscribe messages (订阅消息): the one-time grants a user gave per kind, and the outbox of sends a
worker makes through WeChat's subscribeMessage.send, each grant used once."""
