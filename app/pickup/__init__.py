"""Pickup points and the nearby search."""
