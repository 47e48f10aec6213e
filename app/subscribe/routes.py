from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag

from app.auth.security import BEARER, authenticated, current
from app.db import transaction
from app.http import respond
from app.subscribe import service
from app.subscribe.schemas import Grants, SubscriptionsAccepted

bp = APIBlueprint("subscriptions", __name__, url_prefix="/api/v1",
                  abp_tags=[Tag(name="subscriptions", description="Consent to WeChat subscribe messages")])


@bp.post("/me/subscriptions", operation_id="accept_subscriptions", responses={200: Grants}, security=BEARER,
         summary="Record the subscribe-message kinds I accepted: one more one-time send each")
@authenticated()
def accept_subscriptions(body: SubscriptionsAccepted):
    with transaction() as s:
        return respond(Grants(grants=service.grant(s, user_id=current().user_id, kinds=body.accepted)))
