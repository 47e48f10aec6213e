"""Manifests: the nightly build that ships a delivery date's paid orders, and the versioned
per-point (receiving, pickup) and warehouse (picking) lists it stores, as JSON, CSV and PDF."""
