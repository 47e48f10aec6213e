from __future__ import annotations

from flask import Flask


def register_web(app: Flask) -> None:
    """Placeholder until the console lands."""
