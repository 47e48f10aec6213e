"""Products and SKUs; stock moves only through take_stock / return_stock (atomic statements)."""
from __future__ import annotations

from collections import defaultdict

from sqlalchemy import update
from sqlmodel import Session, select

from app.catalog.errors import OutOfStock, ProductNotFound, SkuNotFound, SkuUnavailable
from app.catalog.models import Product, Sku
from app.db import apply_changes, get_or_raise
from app.pagination import keyset


def create_product(session: Session, *, name: str, description: str, images: list[str],
                   skus: list[dict], on_sale: bool = True) -> tuple[Product, list[Sku]]:
    product = Product(name=name, description=description, images=images, on_sale=on_sale)
    session.add(product)
    session.flush()
    rows = [Sku(product_id=product.id, **s) for s in skus]
    session.add_all(rows)
    session.flush()
    return product, rows


def update_product(session: Session, product_id: int, **changes) -> Product:
    return apply_changes(session, get_or_raise(session, Product, product_id, ProductNotFound, "Product"), changes)


def update_sku(session: Session, sku_id: int, *, stock: int | None = None, stock_delta: int | None = None,
               **changes) -> Sku:
    sku = apply_changes(session, get_or_raise(session, Sku, sku_id, SkuNotFound, "SKU"), changes)
    if stock is not None:
        session.exec(update(Sku).where(Sku.id == sku_id).values(stock=stock))
    if stock_delta:
        if not session.exec(update(Sku).where(Sku.id == sku_id, Sku.stock + stock_delta >= 0)
                            .values(stock=Sku.stock + stock_delta)).rowcount:
            raise OutOfStock(f"SKU {sku_id} has fewer than {-stock_delta} units to remove.", sku_id=sku_id)
    session.refresh(sku)
    return sku


def products_with_skus(session: Session, products: list[Product], *, active_only: bool) -> list[tuple[Product, list[Sku]]]:
    ids = [p.id for p in products]
    by_product: dict[int, list[Sku]] = defaultdict(list)
    if ids:
        q = select(Sku).where(Sku.product_id.in_(ids)).order_by(Sku.id)
        if active_only:
            q = q.where(Sku.active.is_(True))
        for sku in session.exec(q):
            by_product[sku.product_id].append(sku)
    return [(p, by_product[p.id]) for p in products]


def list_products(session: Session, *, before_id: int | None, limit: int, on_sale_only: bool = True):
    q = select(Product)
    if on_sale_only:
        q = q.where(Product.on_sale.is_(True))
    return list(session.exec(keyset(q, Product.id, before_id, limit)))


def get_product(session: Session, product_id: int, *, on_sale_only: bool = True) -> Product:
    product = session.get(Product, product_id)
    if product is None or (on_sale_only and not product.on_sale):
        raise ProductNotFound(f"Product {product_id} does not exist.")
    return product


def sellable_skus(session: Session, sku_ids: list[int]) -> dict[int, tuple[Sku, Product]]:
    """The SKUs (with their products) that can be ordered now; raises for any that cannot."""
    rows = session.exec(select(Sku, Product).join(Product, Product.id == Sku.product_id)
                        .where(Sku.id.in_(sku_ids))).all()
    found = {sku.id: (sku, product) for sku, product in rows}
    for sid in sku_ids:
        if sid not in found:
            raise SkuNotFound(f"SKU {sid} does not exist.", sku_id=sid)
        sku, product = found[sid]
        if not sku.active or not product.on_sale:
            raise SkuUnavailable(f"SKU {sid} is not on sale.", sku_id=sid)
    return found


def take_stock(session: Session, *, sku_id: int, qty: int) -> None:
    # One statement: the row lock and the check are the same thing, so no oversell.
    taken = session.exec(update(Sku).where(Sku.id == sku_id, Sku.stock >= qty)
                         .values(stock=Sku.stock - qty)).rowcount
    if not taken:
        raise OutOfStock(f"SKU {sku_id} has fewer than {qty} units left.", sku_id=sku_id)


def return_stock(session: Session, *, sku_id: int, qty: int) -> None:
    session.exec(update(Sku).where(Sku.id == sku_id).values(stock=Sku.stock + qty))


def return_stock_many(session: Session, *, qty_by_sku: dict[int, int]) -> None:
    """Give back units of many orders at once: one UPDATE per SKU, in SKU order (the order
    place_order takes them in, so the two never wait on each other)."""
    for sku_id in sorted(qty_by_sku):
        if qty_by_sku[sku_id]:
            return_stock(session, sku_id=sku_id, qty=qty_by_sku[sku_id])


def sku_names(session: Session, *, sku_ids: set[int]) -> dict[int, tuple[str, str]]:
    """Product and SKU name of each SKU given that exists, as one read."""
    if not sku_ids:
        return {}
    return {sku_id: (product, sku) for sku_id, product, sku in session.exec(
        select(Sku.id, Product.name, Sku.name).join(Product, Product.id == Sku.product_id)
        .where(Sku.id.in_(sku_ids))).all()}
