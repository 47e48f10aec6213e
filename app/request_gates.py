"""Gates every JSON request passes before its route reads the body: malformed JSON is a 400 and
nesting beyond MAX_JSON_DEPTH is refused. The app installs them as a before_request hook; the
flash purchase's lane (which answers without Flask's dispatch) calls the same functions."""
from __future__ import annotations

from flask import current_app, request
from werkzeug.exceptions import HTTPException

from app.errors import BadRequest
from app.request_context import read_body

# No request of this API nests more than a few levels; deep nesting only exhausts the stack of
# whatever walks it next (validation, error formatting).
MAX_JSON_DEPTH = 32


def json_deeper_than(value, limit: int) -> bool:
    stack = [(value, 1)] if isinstance(value, (dict, list)) else []
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False


def reject_malformed_json() -> None:
    """before_request: flask-openapi3 reads bodies leniently; the contract says malformed JSON is a 400."""
    if request.method not in ("POST", "PUT", "PATCH") or request.content_length == 0:
        return
    raw = read_body(current_app.config["MAX_CONTENT_LENGTH"])  # 413 / 400 for an oversized or broken body
    if request.is_json and raw:
        try:  # parsed once: Werkzeug caches it for the validation that reads it next
            body = request.get_json()
        except (HTTPException, RecursionError):  # Flask's on_json_loading_failed raises a 400
            raise BadRequest("The request body is not valid JSON.") from None
        if json_deeper_than(body, MAX_JSON_DEPTH):
            raise BadRequest(f"The request body nests deeper than {MAX_JSON_DEPTH} levels.")
