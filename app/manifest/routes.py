from __future__ import annotations

from flask import Response
from flask_openapi3 import APIBlueprint, Tag

from app.auth.security import BEARER, authenticated, current
from app.catalog import service as catalog_service
from app.db import reading
from app.http import problem_response, respond, settings
from app.manifest import documents, jobs, service
from app.manifest.schemas import (BuildResult, Buyer, Line, ManifestPath, ManifestQuery, Pickup, PickupLine,
                                  PickupPointBrief, PointManifestPublic, WarehouseManifestPublic)

bp = APIBlueprint("manifests", __name__, url_prefix="/api/v1",
                  abp_tags=[Tag(name="manifests", description="Nightly pickup, receiving and picking lists")])


def point_manifest(s, delivery_date, pickup_point_id) -> PointManifestPublic:
    h = service.point_header(s, delivery_date=delivery_date, pickup_point_id=pickup_point_id)
    where = {"delivery_date": delivery_date, "pickup_point_id": pickup_point_id}
    receiving = [Line(sku_id=k, name=n, qty=q) for k, n, q in service.receiving_lines(s, **where)]
    pickups = [Pickup(order_id=p.order_id, buyer=Buyer(nickname=p.buyer, phone=p.phone), note=p.note,
                      status=p.status,
                      items=[PickupLine(sku_id=k, name=n, qty=left, ordered_qty=q, refunded_qty=r, refunded=r > 0)
                             for k, n, left, q, r in p.items])
               for p in service.pickup_entries(s, **where)]
    return PointManifestPublic(delivery_date=h.delivery_date, version=h.version, built_at=h.built_at,
                               pickup_point=PickupPointBrief(id=h.pickup_point_id, name=h.pickup_point_name),
                               receiving=receiving, pickups=pickups)


def warehouse_manifest(s, delivery_date) -> dict:
    """As WarehouseManifestPublic, but built from plain dicts: the picking list can run to a
    million lines, and a model object per line would cost more than the build itself."""
    w = service.summary(s, delivery_date=delivery_date)
    payload = WarehouseManifestPublic(delivery_date=delivery_date, version=w.version, built_at=w.built_at,
                                      skus=[]).model_dump(mode="json")
    skus: list[dict] = payload["skus"]
    for sku_id, name, point_id, point_name, qty in service.picking_rows(s, delivery_date=delivery_date):
        if not skus or skus[-1]["sku_id"] != sku_id:
            skus.append({"sku_id": sku_id, "name": name, "total": 0, "by_point": []})
        skus[-1]["total"] += qty
        skus[-1]["by_point"].append({"pickup_point_id": point_id, "name": point_name, "qty": qty})
    return payload


def _file(body: bytes, content_type: str, filename: str) -> Response:
    # The full header, as given: `mimetype=` would append werkzeug's own charset to ours.
    resp = Response(body, content_type=content_type)
    resp.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return resp


def _answer(model, fmt: str, stem: str, to_csv, to_pdf) -> Response:
    if fmt == "csv":
        return _file(to_csv(model), "text/csv; charset=utf-8", f"{stem}.csv")
    if fmt == "pdf":
        return _file(to_pdf(model), "application/pdf", f"{stem}.pdf")
    return respond(model)


@bp.get("/leader/manifests/<delivery_date>", responses={200: PointManifestPublic}, security=BEARER,
        operation_id="leader_manifest",
        summary="My point's manifest for a delivery date: receiving list and pickup list")
@authenticated("leader")
def leader_manifest(path: ManifestPath, query: ManifestQuery):
    point_id = current().leader_point_id
    with reading() as s:
        m = point_manifest(s, path.delivery_date, point_id)
    tz = settings().tz
    return _answer(m, query.format, f"manifest-{path.delivery_date}-point-{point_id}",
                   lambda m_: documents.point_csv(m_, tz), lambda m_: documents.point_pdf(m_, tz))


@bp.get("/admin/manifests/<delivery_date>", responses={200: WarehouseManifestPublic}, security=BEARER,
        operation_id="warehouse_manifest",
        summary="The warehouse's picking list for a delivery date: per SKU the total and the split by point")
@authenticated("admin")
def admin_manifest(path: ManifestPath, query: ManifestQuery):
    with reading() as s:
        m = warehouse_manifest(s, path.delivery_date)
        # The PDF splits each line's name into product and SKU by the catalog's names (one read).
        names = catalog_service.sku_names(s, sku_ids={k["sku_id"] for k in m["skus"]}) if query.format == "pdf" else {}
    tz = settings().tz
    return _answer(m, query.format, f"picking-{path.delivery_date}", documents.warehouse_csv,
                   lambda m_: documents.warehouse_pdf(m_, tz, names))


@bp.post("/admin/manifests/<delivery_date>/build", security=BEARER, operation_id="build_manifests",
         responses={200: BuildResult, 422: problem_response(
             "validation_error, or delivery_date_out_of_range: more than 31 days ago, or later than the date "
             "orders placed now are given (the problem's `earliest` and `latest` say which dates can be built)")},
         summary="Build (or rebuild) the manifests for a delivery date now, as the nightly job does")
@authenticated("admin")
def build(path: ManifestPath):
    service.check_build_date(settings(), path.delivery_date)
    return respond(BuildResult(**jobs.build_manifests_job(path.delivery_date.isoformat())))
