"""The Redis layouts one service writes and others read: each module says who owns it."""
