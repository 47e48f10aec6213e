"""The manifests as files: CSV (UTF-8 with a BOM, so that spreadsheet programs read Chinese)
and printable A4 PDF (fpdf2 with Debian's WenQuanYi Micro Hei for the CJK text), rendered on
demand from the stored manifests."""
from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from datetime import datetime, tzinfo

from app.db import utcnow
from app.manifest.errors import PdfFontMissing
from app.manifest.schemas import PointManifestPublic

FONT_PATH = os.environ.get("LINLI_PDF_FONT", "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
BOM = "\ufeff"
TICK = "□"  # the picker's box to tick (U+25A1: WenQuanYi Micro Hei has no U+2610 ☐)


def _csv(rows: Iterable[Iterable]) -> bytes:
    out = io.StringIO()
    out.write(BOM)
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode("utf-8")


def _local(moment: datetime, tz: tzinfo | None) -> str:
    """A time as the leader reads it: in the business time zone (LINLI_TIMEZONE), to the minute."""
    return (moment.astimezone(tz) if tz is not None else moment).strftime("%Y-%m-%d %H:%M")


def _item_state(item) -> str:
    if not item.refunded_qty:
        return ""
    return "已全部退款，勿发" if item.qty == 0 else f"已退款 {item.refunded_qty} 件（原 {item.ordered_qty} 件）"


def point_csv(m: PointManifestPublic, tz: tzinfo | None = None) -> bytes:
    def rows():
        yield ["自提点", m.pickup_point.name, "配送日期", m.delivery_date.isoformat(), "版本", m.version,
               "生成时间", _local(m.built_at, tz)]
        yield []
        yield ["收货清单"]
        yield ["sku_id", "商品", "数量"]
        for line in m.receiving:
            yield [line.sku_id, line.name, line.qty]
        yield []
        yield ["取货清单"]
        yield ["order_id", "买家", "手机", "sku_id", "商品", "数量", "已退款", "备注", "买家备注"]
        for p in m.pickups:
            for item in p.items:
                yield [p.order_id, p.buyer.nickname, p.buyer.phone or "", item.sku_id, item.name, item.qty,
                       item.refunded_qty, _item_state(item), p.note or ""]
    return _csv(rows())


def warehouse_csv(m: dict) -> bytes:
    """m: the warehouse manifest as JSON (WarehouseManifestPublic's shape, plain dicts)."""
    def rows():
        yield ["sku_id", "商品", "合计", "pickup_point_id", "自提点", "数量"]
        for sku in m["skus"]:
            for p in sku["by_point"]:
                yield [sku["sku_id"], sku["name"], sku["total"], p["pickup_point_id"], p["name"], p["qty"]]
    return _csv(rows())


class _Doc:
    """An A4 page flow of simple bordered rows in the CJK font."""

    def __init__(self, title: str, *, page_numbers: bool = False):
        from fpdf import FPDF

        if not os.path.exists(FONT_PATH):
            raise PdfFontMissing(f"The PDF font is not installed ({FONT_PATH}): apt-get install fonts-wqy-microhei.")
        self.pdf = pdf = FPDF(format="A4")
        # A table's header row, drawn again at the top of every page the table runs onto.
        self.header: tuple[list[float], list] | None = None
        pdf.set_title(title)
        pdf.add_font("wqy", fname=FONT_PATH, collection_font_number=0)
        if page_numbers:
            pdf.footer = self._page_number  # FPDF calls self.footer() as each page closes
        pdf.set_auto_page_break(True, margin=12)
        pdf.set_margins(12, 12)
        pdf.add_page()
        pdf.set_font("wqy", size=15)
        pdf.cell(0, 9, title, new_x="LMARGIN", new_y="NEXT")

    def heading(self, text: str):
        self.pdf.ln(3)
        self.pdf.set_font("wqy", size=12)
        self.pdf.cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")
        self.pdf.set_font("wqy", size=10)

    def row(self, widths: list[float], cells: list, bold: bool = False, shade: bool = False):
        pdf = self.pdf
        if pdf.will_page_break(7):
            pdf.add_page()
            if self.header is not None:
                self.row(*self.header, bold=True, shade=True)
        size = 11 if bold else 10
        pdf.set_fill_color(225)
        for w, text in zip(widths, cells):
            if text == TICK:  # a box big enough to tick with a pen
                pdf.set_font("wqy", size=16)
                pdf.cell(w, 7, text, border=1, align="C", fill=shade)
                continue
            pdf.set_font("wqy", size=size)
            align = "R" if isinstance(text, int) else "L"
            pdf.cell(w, 7, self._fit(str(text), w - 2), border=1, align=align, fill=shade)
        pdf.ln(7)

    def _fit(self, text: str, width: float) -> str:
        # One line per row keeps a list scannable: a name too long for its column is shortened.
        if self.pdf.get_string_width(text) <= width:
            return text
        while text and self.pdf.get_string_width(text + "…") > width:
            text = text[:-1]
        return text + "…"

    def table_header(self, widths: list[float], cells: list):
        """Start a table: its header row now and again atop each page it runs onto."""
        self.header = (widths, cells)
        self.row(widths, cells, bold=True, shade=True)

    def line(self, text: str, *, size: int = 9, height: float = 6):
        self.pdf.set_font("wqy", size=size)
        self.pdf.cell(0, height, text, new_x="LMARGIN", new_y="NEXT")

    def _page_number(self):
        pdf = self.pdf
        pdf.set_y(-10)
        pdf.set_font("wqy", size=8)
        pdf.cell(0, 5, f"第 {pdf.page_no()} / {pdf.str_alias_nb_pages} 页", align="C")

    def bytes(self) -> bytes:
        return bytes(self.pdf.output())


def point_pdf(m: PointManifestPublic, tz: tzinfo | None = None) -> bytes:
    doc = _Doc(f"{m.pickup_point.name} 配送单 {m.delivery_date.isoformat()}（第 {m.version} 版）")
    doc.pdf.set_font("wqy", size=9)
    doc.pdf.cell(0, 6, f"生成时间 {_local(m.built_at, tz)}　打印时间 {_local(utcnow(), tz)}（{getattr(tz, 'key', 'UTC')}）",
                 new_x="LMARGIN", new_y="NEXT")
    doc.heading(f"收货清单（{len(m.receiving)} 种商品，请逐项核对到货）")
    doc.row([25, 130, 31], ["SKU", "商品", "数量"], bold=True)
    for line in m.receiving:
        doc.row([25, 130, 31], [line.sku_id, line.name, line.qty])
    doc.heading(f"取货清单（{len(m.pickups)} 单，按手机尾号排序）")
    widths = [20, 32, 28, 62, 14, 30]
    doc.row(widths, ["订单", "买家", "手机", "商品", "数量", "退款"], bold=True)
    for p in m.pickups:
        for i, item in enumerate(p.items):
            first = i == 0
            doc.row(widths, [p.order_id if first else "", p.buyer.nickname if first else "",
                             (p.buyer.phone or "") if first else "", item.name, item.qty, _item_state(item)])
        if p.note:
            doc.row([186], [f"　买家备注：{p.note}"])
    return doc.bytes()


# The picking list's columns: SKU id, product, SKU (规格), point, quantity, and a box to tick.
PICK_WIDTHS = [16, 56, 38, 50, 14, 12]
PICK_HEADER = ["SKU", "商品", "规格", "自提点", "数量", "勾选"]
SIGN_OFF = "拣货人：______________　　复核人：______________　　时间：______________"


def _split_name(name: str, names: tuple[str, str] | None) -> tuple[str, str]:
    """A line's stored name is "<product> <SKU>" as ordered; split by the catalog's product name when
    it still prefixes it, else the whole name stays in the product column."""
    if names and name.startswith(names[0] + " "):
        return names[0], name[len(names[0]) + 1:]
    return name, ""


def warehouse_pdf(m: dict, tz: tzinfo | None = None, names: dict[int, tuple[str, str]] | None = None) -> bytes:
    """The sheet the warehouse picks from: per SKU its total, then its split by point, each with a
    box to tick; the header row on every page, totals, page numbers and a sign-off line.
    m: the warehouse manifest as JSON; names: sku id → (product, SKU name) from the catalog."""
    skus = m["skus"]
    units = sum(sku["total"] for sku in skus)
    pick_lines = sum(len(sku["by_point"]) for sku in skus)
    points = len({p["pickup_point_id"] for sku in skus for p in sku["by_point"]})
    built = _local(datetime.fromisoformat(m["built_at"]), tz) if m.get("built_at") else "—"
    doc = _Doc(f"拣货单 配送日期 {m['delivery_date']}（第 {m['version']} 版）", page_numbers=True)
    doc.line(f"生成时间 {built}　打印时间 {_local(utcnow(), tz)}（{getattr(tz, 'key', 'UTC')}）")
    doc.line(f"共 {len(skus)} 种商品，{pick_lines} 个拣货行，{points} 个自提点，合计 {units} 件")
    doc.pdf.ln(2)
    doc.table_header(PICK_WIDTHS, PICK_HEADER)
    for sku in skus:
        product, sku_name = _split_name(sku["name"], (names or {}).get(sku["sku_id"]))
        doc.row(PICK_WIDTHS, [sku["sku_id"], product, sku_name, f"合计 {len(sku['by_point'])} 个自提点",
                              sku["total"], TICK], bold=True)
        for p in sku["by_point"]:
            # A SKU's points running onto the next page say again which SKU they are.
            again = doc.pdf.will_page_break(7)
            doc.row(PICK_WIDTHS, [sku["sku_id"] if again else "", f"{product}（续）" if again else "",
                                  sku_name if again else "", f"{p['name']}（#{p['pickup_point_id']}）", p["qty"], TICK])
    if not skus:
        doc.row([sum(PICK_WIDTHS)], ["（本日没有要拣的货）"])
    doc.row(PICK_WIDTHS, ["", "合计", f"{len(skus)} 种商品 / {pick_lines} 行", f"{points} 个自提点", units, ""],
            bold=True)
    doc.header = None
    pdf = doc.pdf
    if pdf.will_page_break(20):
        pdf.add_page()
    pdf.ln(8)
    doc.line(SIGN_OFF, size=11, height=8)
    return doc.bytes()


# The same helpers for other domains' documents (the leader's monthly statement).
csv_bytes = _csv
Document = _Doc
