"""Imports go workers → app, never back: app/ is importable without the process entry points."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app"


def imported_modules(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            yield str(node.args[0].value)


def test_nothing_in_app_imports_workers():
    offenders = [f"{path.relative_to(APP.parent)}: {name}"
                 for path in sorted(APP.rglob("*.py"))
                 for name in imported_modules(ast.parse(path.read_text(encoding="utf-8")))
                 if name == "workers" or name.startswith("workers.")]
    assert not offenders, offenders


# ---- the house plan (issue 17): no cycles, small modules, few reads across domains ----------------

def _graph():
    import importlib.util

    spec = importlib.util.spec_from_file_location("import_graph", APP.parent / "scripts" / "import_graph.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


GRAPH = _graph()
MODULES = GRAPH.read_modules()

# Imports placed inside functions, each with its reason: the package's lazy create_app (importing
# `app` must not build the app), and the CLI, whose commands load only what each one runs.
NESTED_IMPORTS_ALLOWED = {"app", "app.cli"}

# Reads of another domain's tables, each needed by a set-based query that joins them.
CROSS_DOMAIN_MODEL_READS = {
    "app.aftersales.service": ["app.order.models"],  # the statuses an order may ask for after-sales from
    # the operator's leaders and points with their day's figures: grouped over orders, fans, commissions
    "app.backoffice.figures": ["app.auth.models", "app.commission.models", "app.leader.models", "app.order.models",
                               "app.pickup.models"],
    "app.bargain.service": ["app.order.models"],  # a bargain's order, by its source_ref
    "app.chat.service": ["app.leader.models", "app.notify.models", "app.order.models", "app.pickup.models"],
    "app.commission.reactions": ["app.order.models"],  # the order a commission is for
    "app.flashsale.service": ["app.order.models"],  # live orders rebuild a sale's Redis state
    "app.groupbuy.service": ["app.order.models"],  # a group's members are orders
    "app.workbench.fans": ["app.auth.models", "app.order.models"],  # a leader's buyers, by their orders
    "app.workbench.shortages": ["app.order.models"],  # short units refunded on the orders that hold them
    "app.manifest.service": ["app.auth.models", "app.leader.models", "app.order.models", "app.pickup.models"],
    "app.payment.flows": ["app.order.models"],  # an order paid is read back to answer the buyer
    "app.payment.service": ["app.order.models"],  # money follows the order it is for
    "app.payment.unit_refunds": ["app.order.models"],  # the statuses units may be given back from
    "app.pickup.service": ["app.auth.models", "app.leader.models"],  # points with their leaders
    "app.share.reactions": ["app.catalog.models", "app.order.models"],  # orders attributed to shares
    "app.wallet.reactions": ["app.order.models"],  # growth follows the order picked up or refunded
    "app.share.service": ["app.catalog.models", "app.order.models", "app.points.models"],
    # WeChat Pay orders paid long ago and not uploaded: one count over orders, payments and syncs
    "app.shipping.views": ["app.order.models", "app.payment.models"],
    "app.subscribe.service": ["app.auth.models"],  # the openid a message goes to
}

# The order domain sits below the campaigns, chat, shares, manifests and payments: they react to it
# through its hooks (app/wiring.py), it never calls up into them. Routes are the top layer.
ORDER_MAY_NOT_IMPORT = ("bargain", "chat", "commission", "flashsale", "groupbuy", "manifest", "notify",
                        "payment", "share", "subscribe")


def test_no_import_cycles_among_app_modules():
    assert GRAPH.cycles(MODULES) == []


def test_no_module_of_app_is_over_the_size_limit():
    big = {m.name: m.lines for m in MODULES.values() if m.lines > GRAPH.MAX_LINES}
    assert big == {}


def test_imports_inside_functions_only_where_allowed():
    nested = {m.name for m in MODULES.values() if m.nested}
    assert nested <= NESTED_IMPORTS_ALLOWED, nested - NESTED_IMPORTS_ALLOWED


def test_reads_of_other_domains_models_are_the_listed_ones():
    assert GRAPH.cross_domain_model_reads(MODULES) == CROSS_DOMAIN_MODEL_READS


def test_the_order_domain_does_not_import_upwards():
    offenders = {m.name: sorted(t for t in m.imports if GRAPH.domain_of(t) in ORDER_MAY_NOT_IMPORT)
                 for m in MODULES.values()
                 if GRAPH.domain_of(m.name) == "order" and not m.name.endswith(".routes")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_graph_reader_sees_a_cycle_and_a_nested_import(tmp_path):
    """The rules above are only as good as the reading: a planted cycle is found."""
    a = GRAPH.Module("app.x.a", tmp_path / "a.py", 1, imports={"app.x.b": [1]})
    b = GRAPH.Module("app.x.b", tmp_path / "b.py", 1, imports={"app.x.a": [3]}, nested=[(3, "app.x.a")])
    assert GRAPH.cycles({"app.x.a": a, "app.x.b": b}) == [["app.x.a", "app.x.b"]]
