"""The app against its own OpenAPI document, with schemathesis (v4): every operation, generated
valid and invalid input, as an admin, a buyer and a leader. No input may give a 5xx, and every
answer must be one the document describes (status code, content type, body schema); invalid
input must be refused; an operation that asks for a token must refuse a request without one.

The document is read once, at collection, from an app that is never connected to anything; each
generated request then goes to the `app` fixture's app over a fresh, seeded database. Bounded:
MAX_EXAMPLES per operation, no deadline, a fixed seed (derandomize) so that a run is repeatable.
"""
from __future__ import annotations

import tempfile

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, ignored_auth, missing_required_header,
                                               negative_data_rejection, response_schema_conformance,
                                               status_code_conformance, unsupported_method)

from app import create_app
from app.config import Settings
from tests.conftest import BACKENDS, login, make_leader, make_product

MAX_EXAMPLES = 25
# The admin reaches the most writes and runs on every backend (PostgreSQL refuses what SQLite
# stores: NUL characters, strings longer than their column); the other callers on one.
ONE_BACKEND = ["sqlite" if "sqlite" in BACKENDS else BACKENDS[0]]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection, ignored_auth, missing_required_header, unsupported_method]


@pytest.fixture
def seeded(client):
    """Something behind the small ids the fuzzer tries first: users, a leader and point, a
    product, an order."""
    admin = login(client, "st-admin", admin=True)
    leader, approved = make_leader(client, admin)
    product = make_product(admin, skus=(("一个装", 1990, 1000), ("两个装", 3590, 1000)))
    buyer = login(client, "st-buyer")
    buyer.put("/me/pickup-point", json={"pickup_point_id": approved["pickup_point_id"]})
    order = buyer.post("/orders", json={"items": [{"sku_id": product["skus"][0]["id"], "qty": 1}]}).get_json()
    buyer.post(f"/orders/{order['id']}/pay")
    return {"admin": admin, "buyer": buyer, "leader": leader}


def _document_app():
    """An app to read the document from at collection time: it is never sent a request that
    needs its database or Redis (both unreachable), which the `app` fixture's app answers."""
    return create_app(Settings(env="test", database_url=f"sqlite:///{tempfile.gettempdir()}/linli-doc-only.db",
                               redis_url="redis://127.0.0.1:1/0", ratelimit_enabled=False))


schema = schemathesis.openapi.from_wsgi(
    "/api/v1/openapi.json", _document_app(),
    config=schemathesis.Config.from_dict({"generation": {
        "max-examples": MAX_EXAMPLES,
        # Unknown query parameters are ignored by design (clients add cache busters, older
        # clients send retired ones); they are not invalid input.
        "allow-extra-parameters": False,
        # The bearer token comes from the test (one per caller), never generated or dropped.
        "with-security-parameters": False,
    }}))
SETTINGS = hypothesis.settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
                               suppress_health_check=list(hypothesis.HealthCheck))


@schema.parametrize()
@pytest.mark.parametrize("backend", BACKENDS)
@SETTINGS
def test_the_api_keeps_its_documented_promises_to_an_admin(case, app, seeded):
    case.call_and_validate(app=app, headers=seeded["admin"].headers, checks=CHECKS)


@schema.parametrize()
@pytest.mark.parametrize("backend", ONE_BACKEND)
@SETTINGS
def test_the_api_keeps_its_documented_promises_to_a_buyer(case, app, seeded):
    case.call_and_validate(app=app, headers=seeded["buyer"].headers, checks=CHECKS)


@schema.parametrize()
@pytest.mark.parametrize("backend", ONE_BACKEND)
@SETTINGS
def test_the_api_keeps_its_documented_promises_to_a_leader(case, app, seeded):
    case.call_and_validate(app=app, headers=seeded["leader"].headers, checks=CHECKS)


# ---- the document itself ----------------------------------------------------------------------

@pytest.mark.parametrize("backend", ONE_BACKEND)
def test_the_document_is_openapi_3_1_with_every_path_in_full(client):
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200 and r.mimetype == "application/json"
    spec = r.get_json()
    assert spec["openapi"].startswith("3.1.")
    assert spec["paths"]
    assert all(path.startswith("/api/v1/") for path in spec["paths"]), list(spec["paths"])
    assert not spec.get("servers") or all(s.get("url") in ("", "/") for s in spec["servers"])


@pytest.mark.parametrize("backend", ONE_BACKEND)
def test_every_error_an_operation_documents_is_problem_json(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    for path, item in spec["paths"].items():
        for method, op in item.items():
            for status, resp in op["responses"].items():
                if status.startswith(("4", "5")):
                    assert list(resp.get("content", {})) == ["application/problem+json"], (method, path, status)


@pytest.mark.parametrize("backend", ONE_BACKEND)
def test_the_interactive_docs_are_served_as_html(client):
    r = client.get("/api/docs", follow_redirects=True)
    assert r.status_code == 200 and r.mimetype == "text/html"
    assert "swagger" in r.get_data(as_text=True).lower()
    # The page loads "openapi.json" relative to itself: that must be the same document.
    loaded = client.get(r.request.path.rsplit("/", 1)[0] + "/openapi.json")
    assert loaded.status_code == 200 and loaded.get_json() == client.get("/api/v1/openapi.json").get_json()
