"""Small helpers every blueprint shares: settings, JSON responses, documented errors."""
from __future__ import annotations

import json
from typing import Any

from flask import Response, current_app
from pydantic import BaseModel

from app.config import Settings


def settings() -> Settings:
    return current_app.extensions["linli.settings"]


def respond(model: BaseModel | dict | list, status: int = 200, headers: dict | None = None) -> Response:
    payload = model.model_dump(mode="json") if isinstance(model, BaseModel) else model
    resp = Response(json.dumps(payload, ensure_ascii=False, default=str), status=status, mimetype="application/json")
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def problem_response(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
