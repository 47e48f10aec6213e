from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag

from app.auth.security import BEARER, authenticated
from app.catalog import service
from app.catalog.schemas import (ProductCreate, ProductList, ProductPath, ProductPublic, ProductQuery, ProductUpdate,
                                 SkuPath, SkuPublic, SkuUpdate)
from app.db import reading, transaction
from app.http import respond
from app.pagination import decode_cursor, page_of

bp = APIBlueprint("catalog", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="catalog", description="Products")])


def sku_public(sku) -> SkuPublic:
    return SkuPublic(id=sku.id, name=sku.name, price=sku.price, stock_available=sku.stock, active=sku.active)


def product_public(product, skus) -> ProductPublic:
    return ProductPublic(id=product.id, name=product.name, description=product.description, images=product.images,
                         on_sale=product.on_sale, created_at=product.created_at, skus=[sku_public(k) for k in skus])


@bp.post("/admin/products", operation_id="create_product", responses={201: ProductPublic}, security=BEARER,
         summary="Create a product with its SKUs")
@authenticated("admin")
def create_product(body: ProductCreate):
    with transaction() as s:
        product, skus = service.create_product(s, name=body.name, description=body.description or "",
                                               images=body.images or [], on_sale=body.on_sale,
                                               skus=[k.model_dump() for k in body.skus])
        return respond(product_public(product, skus), 201)


@bp.patch("/admin/products/<int:product_id>", operation_id="update_product", responses={200: ProductPublic},
          security=BEARER, summary="Change a product (name, description, images, on sale)")
@authenticated("admin")
def update_product(path: ProductPath, body: ProductUpdate):
    with transaction() as s:
        product = service.update_product(s, path.product_id, **body.model_dump(exclude_unset=True, exclude_none=True))
        ((p, skus),) = service.products_with_skus(s, [product], active_only=False)
        return respond(product_public(p, skus))


@bp.patch("/admin/skus/<int:sku_id>", operation_id="update_sku", responses={200: SkuPublic}, security=BEARER,
          summary="Change a SKU (name, price, stock, active)")
@authenticated("admin")
def update_sku(path: SkuPath, body: SkuUpdate):
    with transaction() as s:
        return respond(sku_public(service.update_sku(s, path.sku_id, **body.model_dump(exclude_unset=True,
                                                                                        exclude_none=True))))


@bp.get("/products", operation_id="list_products", responses={200: ProductList}, summary="Products on sale")
def list_products(query: ProductQuery):
    with reading() as s:
        rows = service.list_products(s, before_id=decode_cursor(query.cursor), limit=query.limit)
        rows, cursor = page_of(rows, query.limit)
        items = [product_public(p, k) for p, k in service.products_with_skus(s, rows, active_only=True)]
    return respond(ProductList(items=items, next_cursor=cursor))


@bp.get("/products/<int:product_id>", operation_id="get_product", responses={200: ProductPublic},
        summary="One product on sale with its SKUs")
def get_product(path: ProductPath):
    with reading() as s:
        product = service.get_product(s, path.product_id)
        ((p, skus),) = service.products_with_skus(s, [product], active_only=True)
    return respond(product_public(p, skus))
