"""A build on demand for a date no order can carry (1999, 2099, a typo) is a 422 with a stable code,
from the API and from the CLI alike, and builds nothing; the dates around today still build."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from app.config import Settings
from app.errors import DomainError
from app.manifest.service import BUILD_DAYS_BACK, check_build_date

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize("day", ["1999-01-01", "2099-01-01"])
def test_building_a_date_far_from_today_is_a_422_that_builds_nothing(admin, day):
    r = admin.post(f"/admin/manifests/{day}/build")
    assert r.status_code == 422 and r.mimetype == "application/problem+json", r.get_json()
    body = r.get_json()
    assert body["code"] == "delivery_date_out_of_range" and day in body["detail"]
    assert date.fromisoformat(body["earliest"]) < date.fromisoformat(body["latest"])
    assert admin.get(f"/admin/manifests/{day}").get_json()["code"] == "manifest_not_built"


def test_the_edges_the_problem_names_build_and_one_day_past_them_does_not(admin):
    refused = admin.post("/admin/manifests/2099-01-01/build").get_json()
    earliest, latest = date.fromisoformat(refused["earliest"]), date.fromisoformat(refused["latest"])
    assert admin.post(f"/admin/manifests/{earliest}/build").status_code == 200
    assert admin.post(f"/admin/manifests/{latest}/build").status_code == 200
    for outside in (earliest - timedelta(days=1), latest + timedelta(days=1)):
        r = admin.post(f"/admin/manifests/{outside}/build")
        assert r.status_code == 422 and r.get_json()["code"] == "delivery_date_out_of_range"


@pytest.mark.parametrize("local, day, ok", [
    # Before the 23:00 cut-off orders are dated tomorrow: tomorrow is the latest date to build.
    (datetime(2026, 12, 4, 22, 59), date(2026, 12, 5), True),
    (datetime(2026, 12, 4, 22, 59), date(2026, 12, 6), False),
    # After it, the day after tomorrow.
    (datetime(2026, 12, 4, 23, 0), date(2026, 12, 6), True),
    (datetime(2026, 12, 4, 23, 0), date(2026, 12, 7), False),
    (datetime(2026, 12, 4, 12, 0), date(2026, 12, 4) - timedelta(days=BUILD_DAYS_BACK), True),
    (datetime(2026, 12, 4, 12, 0), date(2026, 12, 4) - timedelta(days=BUILD_DAYS_BACK + 1), False),
    (datetime(2026, 12, 4, 12, 0), date(1999, 1, 1), False),
])
def test_the_range_follows_the_cut_off_in_the_business_time_zone(local, day, ok):
    settings = Settings(env="test", timezone="Asia/Shanghai")
    now = local.replace(tzinfo=SHANGHAI).astimezone(timezone.utc)
    if ok:
        check_build_date(settings, day, now)
    else:
        with pytest.raises(DomainError) as e:
            check_build_date(settings, day, now)
        assert e.value.code == "delivery_date_out_of_range" and e.value.status == 422


def test_the_cli_refuses_a_date_far_from_today_with_the_code(app, monkeypatch):
    s = app.extensions["linli.settings"]
    monkeypatch.setenv("LINLI_DATABASE_URL", s.database_url)
    monkeypatch.setenv("LINLI_REDIS_URL", s.redis_url)
    monkeypatch.setenv("LINLI_ENV", "test")
    from app.cli import main

    result = CliRunner().invoke(main, ["manifests", "build", "--date", "2099-01-01"])
    assert result.exit_code != 0 and "delivery_date_out_of_range" in result.output, result.output
