"""The warehouse picking list as a PDF is the sheet a warehouse picks from: a title with the
date, version and build time, a labelled header row on every page, per SKU its product, SKU name,
total and split by point with a box to tick, totals, page numbers and a sign-off line."""
from __future__ import annotations

import io
import re
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from pypdf import PdfReader

from app.manifest.documents import PICK_HEADER, SIGN_OFF, TICK, warehouse_pdf
from tests.manifest.test_manifests import paid_order, world  # noqa: F401 (the fixture)

HEADER = " ".join(PICK_HEADER)


def pages_text(data: bytes) -> list[str]:
    return [p.extract_text() for p in PdfReader(io.BytesIO(data)).pages]


def test_the_picking_list_of_a_known_manifest(app, world):
    w = world
    o = paid_order(w["b1"], [w["melon"], w["half"]], w["p1"], qty=2)
    paid_order(w["b2"], [w["melon"]], w["p2"], qty=3)
    day = o["delivery_date"]
    built = w["admin"].post(f"/admin/manifests/{day}/build").get_json()
    r = w["admin"].get(f"/admin/manifests/{day}?format=pdf")
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    (text,) = pages_text(r.data)
    lines = text.splitlines()
    assert f"拣货单 配送日期 {day}（第 1 版）" in text
    local = datetime.fromisoformat(built["built_at"]).astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
    assert f"生成时间 {local}" in text
    assert HEADER in lines
    # Product and SKU name in their own columns; the SKU's total, then each point's part, each to tick.
    assert f"{w['melon']} 麒麟西瓜 一个装约4斤 合计 2 个自提点 5 {TICK}" in lines
    assert f"幸福里自提点（#{w['p1']}） 2 {TICK}" in lines
    assert any(re.fullmatch(rf".*（#{w['p2']}） 3 {TICK}", ln) for ln in lines)
    assert f"{w['half']} 麒麟西瓜 半个装约2斤 合计 1 个自提点 2 {TICK}" in lines
    assert "共 2 种商品，3 个拣货行，2 个自提点，合计 7 件" in text
    assert "合计 2 种商品 / 3 行 2 个自提点 7" in lines
    assert SIGN_OFF.split("：")[0] == "拣货人" and "拣货人：" in text and "复核人：" in text and "时间：" in text
    assert "第 1 / 1 页" in text


def test_a_long_list_runs_onto_pages_each_with_the_header_and_its_number():
    skus = [{"sku_id": 100 + i, "name": f"商品{i} 规格{i}", "total": 3,
             "by_point": [{"pickup_point_id": 1, "name": "东门", "qty": 1}, {"pickup_point_id": 2, "name": "西门", "qty": 2}]}
            for i in range(40)]
    m = {"delivery_date": "2030-01-02", "version": 3, "built_at": "2030-01-01T14:00:00Z", "skus": skus}
    names = {100 + i: (f"商品{i}", f"规格{i}") for i in range(40)}
    texts = pages_text(warehouse_pdf(m, ZoneInfo("Asia/Shanghai"), names))
    n = len(texts)
    assert n >= 3
    for i, text in enumerate(texts, 1):
        assert HEADER in text.splitlines(), i
        assert f"第 {i} / {n} 页" in text
    whole = "\n".join(texts)
    assert "生成时间 2030-01-01 22:00" in whole and "（第 3 版）" in whole
    assert whole.count(TICK) == 40 * 3
    assert "共 40 种商品，80 个拣货行，2 个自提点，合计 120 件" in whole
    assert "合计 40 种商品 / 80 行 2 个自提点 120" in whole
    assert "拣货人：" in texts[-1] and "复核人：" in texts[-1]
    assert "108 商品8 规格8 合计 2 个自提点 3 □" in whole


def test_an_empty_day_still_prints_a_sheet_to_sign():
    m = {"delivery_date": "2030-01-02", "version": 1, "built_at": datetime(2030, 1, 1, tzinfo=timezone.utc).isoformat(),
         "skus": []}
    (text,) = pages_text(warehouse_pdf(m))
    assert HEADER in text.splitlines() and "本日没有要拣的货" in text and "合计 0 种商品 / 0 行 0 个自提点 0" in text
    assert "拣货人：" in text
