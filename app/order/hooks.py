"""How other domains react to orders' state changes without the order domain knowing them.

Each reacting domain has a handler for an event, for its own source (flash sale, group, bargain)
or for every source (ALL_SOURCES: points, shares, commission, payment refunds, chat). Handlers
are registered in one place, app/wiring.py, which every process (API, worker, scheduler, CLI)
calls at start: never as a side effect of importing a module, so a process that forgot to wire
fails loudly instead of silently dropping a reaction (a flash unit not given back on cancel).

A "paid" handler may refuse the payment by returning a reason (a full group); other handlers'
return values are ignored. Set events (placed, shipped, received) hand their handlers the ids at once,
for set-based work."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from enum import StrEnum

from sqlmodel import Session

from app.order.models import Order

ALL_SOURCES = "*"

OrderHandler = Callable[[Session, Order], "str | None"]
SetHandler = Callable[[Session, list[int]], None]


class OrderEvent(StrEnum):
    # one order at a time
    paid = "paid"
    cancelled = "cancelled"
    refunded = "refunded"
    arrived = "arrived"
    picked_up = "picked_up"
    # sets of orders
    placed = "placed"
    shipped = "shipped"
    received = "received"  # a delivery received at its point: the orders that became arrived, at once


SET_EVENTS = frozenset({OrderEvent.placed, OrderEvent.shipped, OrderEvent.received})


class NotWired(RuntimeError):
    """An order changed state in a process that never called app.wiring.wire()."""


class OrderHooks:
    def __init__(self) -> None:
        self._handlers: dict[tuple[OrderEvent, str], list[OrderHandler]] = defaultdict(list)
        self._set_handlers: dict[OrderEvent, list[SetHandler]] = defaultdict(list)
        self.wired = False

    def on(self, event: OrderEvent, source: str, handler: OrderHandler) -> None:
        if event in SET_EVENTS:
            raise ValueError(f"{event} is a set event: use on_set")
        if handler not in self._handlers[(event, source)]:
            self._handlers[(event, source)].append(handler)

    def on_set(self, event: OrderEvent, handler: SetHandler) -> None:
        if event not in SET_EVENTS:
            raise ValueError(f"{event} is not a set event: use on")
        if handler not in self._set_handlers[event]:
            self._set_handlers[event].append(handler)

    def off(self, event: OrderEvent, source: str, handler: OrderHandler) -> None:
        """Take a handler out again (a test's temporary reaction)."""
        self._handlers[(event, source)].remove(handler)

    def _check(self) -> None:
        if not self.wired:
            raise NotWired("order hooks are not registered: call app.wiring.wire() at process start")

    def fire(self, session: Session, event: OrderEvent, order: Order) -> str | None:
        """Run the handlers for the order's source, then those for every source; the first
        refusal stops the rest and is returned."""
        self._check()
        for handler in (*self._handlers[(event, order.source)], *self._handlers[(event, ALL_SOURCES)]):
            refusal = handler(session, order)
            if refusal:
                return refusal
        return None

    def fire_set(self, session: Session, event: OrderEvent, order_ids: list[int]) -> None:
        self._check()
        if order_ids:
            for handler in self._set_handlers[event]:
                handler(session, order_ids)

    def table(self) -> dict[tuple[str, str], list[str]]:
        """Who reacts to what, by qualified name: what tests/test_wiring.py holds."""
        out = {(str(e), src): [f"{h.__module__}.{h.__qualname__}" for h in hs]
               for (e, src), hs in self._handlers.items() if hs}
        out.update({(str(e), "set"): [f"{h.__module__}.{h.__qualname__}" for h in hs]
                    for e, hs in self._set_handlers.items() if hs})
        return out


# The process's registry, filled by app.wiring.wire().
hooks = OrderHooks()
