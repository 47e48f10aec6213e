"""User notifications: stored rows plus a Redis pub/sub push for live sockets."""
