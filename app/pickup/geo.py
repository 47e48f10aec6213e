"""Coordinates: datum conversion and the distances a nearby search needs."""
from __future__ import annotations

import math

import prcoords
from geopy.distance import great_circle

METERS_PER_DEG_LAT = 111_320.0
# Coordinates are kept to 1e-7 degree (about 1 cm): finer digits mean nothing on a map, and a
# difference like 1e-200 squared underflows PostgreSQL's double precision (an error, not 0).
COORD_DECIMALS = 7


def coord(value: float) -> float:
    return round(value, COORD_DECIMALS) + 0.0  # + 0.0: no -0.0


def to_gcj02(lat: float, lng: float, coord_type: str) -> tuple[float, float]:
    """wx.getLocation gives WGS-84 unless asked otherwise; everything here is stored as GCJ-02."""
    if coord_type == "wgs84":
        c = prcoords.wgs_gcj((lat, lng))
        return c.lat, c.lon
    return lat, lng


def bounding_box(lat: float, lng: float, radius_m: float) -> tuple[float, float, float, float]:
    dlat = radius_m / METERS_PER_DEG_LAT
    dlng = radius_m / (METERS_PER_DEG_LAT * max(math.cos(math.radians(lat)), 1e-6))
    return lat - dlat, lat + dlat, lng - dlng, lng + dlng


_GREAT_CIRCLE = great_circle()  # reused: building a Distance per pair cost more than the maths


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    return _GREAT_CIRCLE.measure(a, b) * 1000.0  # measure() answers in km
