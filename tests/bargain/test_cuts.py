"""The cut algorithm as properties: every cut at least 1 fen, the cuts sum exactly to the gap, the
last one lands on the floor, and a price never goes below it."""
from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.bargain.cuts import next_cut


@st.composite
def bargains(draw):
    helpers = draw(st.integers(min_value=1, max_value=100))
    floor = draw(st.integers(min_value=1, max_value=10_000_000))
    gap = draw(st.integers(min_value=helpers, max_value=100_000_000))
    return floor + gap, floor, helpers, draw(st.integers(min_value=0, max_value=2**32))


@given(bargains())
def test_cuts_are_each_at_least_one_fen_and_sum_exactly_to_start_minus_floor(case):
    start, floor, helpers, seed = case
    rng = random.Random(seed)
    price, cuts = start, []
    for n in range(helpers):
        cut = next_cut(price - floor, helpers - n, rng)
        assert cut >= 1
        price -= cut
        assert price >= floor  # never below the floor, at any step
        cuts.append(cut)
    assert sum(cuts) == start - floor and price == floor


@given(st.integers(min_value=2, max_value=100), st.integers(min_value=0, max_value=2**32))
def test_the_tightest_gap_still_gives_every_helper_one_fen(helpers, seed):
    rng = random.Random(seed)
    assert [next_cut(helpers - n, helpers - n, rng) for n in range(helpers)] == [1] * helpers


def test_a_gap_smaller_than_the_helpers_is_refused():
    with pytest.raises(ValueError):
        next_cut(2, 3)
