"""The leader console web page (/leader)."""
from __future__ import annotations

import hashlib
from pathlib import Path

from flask import Blueprint, Flask, Response, current_app, render_template, url_for

from app.demo import LEADERS as DEMO_LEADERS
from app.http import settings

STATIC_DIR = Path(__file__).parent / "static"

# A plain Flask blueprint, not an APIBlueprint: the console is a client of the API, not part of
# the OpenAPI document.
bp = Blueprint("web", __name__, static_folder="static", static_url_path="/leader/static",
               template_folder="templates")

# Everything the page needs comes from this origin; nothing may frame it.
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'")


def _asset_versions() -> dict[str, str]:
    # Content hashes in the asset URLs, so a deploy never runs new HTML against cached old JS.
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:12] for p in STATIC_DIR.iterdir() if p.is_file()}


@bp.get("/leader", strict_slashes=False)
def leader_console() -> Response:
    s = settings()
    versions = current_app.extensions["linli.web_assets"]

    def asset(name: str) -> str:
        return url_for("web.static", filename=name, v=versions.get(name, "0"))

    demo_openid, demo_name = DEMO_LEADERS[0][:2]  # what `linli seed-demo` loads: the placeholder names it
    html = render_template("leader.html", asset=asset, timezone=s.timezone, dev_login=bool(s.dev_login),
                           api_base="/api/v1", demo_openid=demo_openid, demo_name=demo_name,
                           has_chat="chat.js" in versions)
    resp = Response(html, mimetype="text/html")
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Content-Security-Policy"] = _CSP
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


def register_web(app: Flask) -> None:
    app.extensions["linli.web_assets"] = _asset_versions()
    app.register_blueprint(bp)
