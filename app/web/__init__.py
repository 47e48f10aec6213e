"""The leader console web page (/leader)."""
