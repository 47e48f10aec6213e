from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag

from app.auth.security import BEARER, authenticated
from app.http import respond
from app.reconcile import flows
from app.reconcile.schemas import ReconciliationPath, ReconciliationPublic

bp = APIBlueprint("reconciliations", __name__, url_prefix="/api/v1",
                  abp_tags=[Tag(name="reconciliation", description="WeChat Pay's daily bills against our books")])


@bp.get("/admin/reconciliations/<date>", operation_id="get_reconciliation", responses={200: ReconciliationPublic},
        security=BEARER,
        summary="A bill date's reconciliation: status, totals on both sides and every discrepancy found")
@authenticated("admin")
def get_reconciliation(path: ReconciliationPath):
    return respond(ReconciliationPublic.model_validate(flows.report(path.date)))
