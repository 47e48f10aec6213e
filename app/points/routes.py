from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag

from app.auth.security import BEARER, authenticated, current
from app.db import reading
from app.http import respond
from app.pagination import decode_cursor, page_of
from app.points import service
from app.points.schemas import MyPoints, MyPointsQuery, PointEntryOut

bp = APIBlueprint("points", __name__, url_prefix="/api/v1",
                  abp_tags=[Tag(name="points", description="积分: earned by shares, spent at checkout")])


@bp.get("/me/points", operation_id="my_points", security=BEARER, responses={200: MyPoints},
        summary="My points balance and movements, newest first")
@authenticated()
def my_points(query: MyPointsQuery):
    user_id = current().user_id
    with reading() as s:
        rows = service.entries(s, user_id=user_id, before_id=decode_cursor(query.cursor), limit=query.limit)
        rows, cursor = page_of(rows, query.limit)
        return respond(MyPoints(balance=service.balance_of(s, user_id=user_id),
                                items=[PointEntryOut.model_validate(e, from_attributes=True) for e in rows],
                                next_cursor=cursor))
