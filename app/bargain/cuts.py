"""The cut algorithm, pure: how much one helper takes off a bargain record's price."""
from __future__ import annotations

import random


def next_cut(remaining: int, helpers_left: int, rng: random.Random | None = None) -> int:
    """The cut of the next helper, when `remaining` fen separate the price from the floor and
    `helpers_left` helpers (this one included) are still needed.

    The last helper takes exactly what remains, so the helpers_needed-th cut lands on the floor.
    Any other takes 20-80 % of what remains after keeping 1 fen for every helper still to come,
    and at least 1 fen, so each later helper still has a fen to cut and the price never passes
    the floor. Needs remaining >= helpers_left >= 1 (checked when a campaign is created).
    """
    if helpers_left < 1 or remaining < helpers_left:
        raise ValueError(f"cannot split {remaining} fen among {helpers_left} helpers, 1 fen at least each")
    if helpers_left == 1:
        return remaining
    spendable = remaining - (helpers_left - 1)
    low = max(1, spendable * 20 // 100)
    high = max(low, spendable * 80 // 100)
    return (rng or random).randint(low, high)
