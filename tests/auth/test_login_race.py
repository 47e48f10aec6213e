"""Two first logins of one openid at once (two taps, two devices): users.openid is unique, so
it is one user and no 500, on the dev-login and the WeChat paths. Threads over real HTTP: truly
concurrent on PostgreSQL; SQLite serialises writers, so there they queue."""
from __future__ import annotations

import threading

import pytest
import requests
from sqlalchemy import func
from sqlmodel import select

from app.auth.models import User
from app.db import transaction
from tests.http_server import serving

N = 6


def together(fn):
    answers, start = [], threading.Barrier(N)

    def go(i):
        start.wait(10)
        answers.append(fn(i))
    threads = [threading.Thread(target=go, args=(i,)) for i in range(N)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return answers


def users_with(app, openid):
    with app.app_context(), transaction() as s:
        return s.exec(select(func.count(User.id)).where(User.openid == openid)).one()


@pytest.mark.parametrize("path", ["dev-login", "wechat"])
def test_first_logins_of_one_openid_at_once_make_one_user(app, fake_wechat, path):
    openid = f"o-race-{path}"
    codes = [fake_wechat.issue_code(openid) for _ in range(N)]
    with serving(app) as base:
        answers = together(lambda i: requests.post(
            f"{base}/api/v1/auth/{path}", timeout=60,
            json={"openid": openid} if path == "dev-login" else {"code": codes[i]}))
    assert [r.status_code for r in answers] == [200] * N, [r.text for r in answers]
    assert len({r.json()["user"]["id"] for r in answers}) == 1
    assert users_with(app, openid) == 1
