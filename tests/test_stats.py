"""The statistics a teacher reads aloud, checked against values computed by hand."""

import math

import pytest

from explorer.runs.stats import band, paired, t_interval


def test_t_interval_matches_the_textbook_formula():
    # mean 3, s = √2.5, se = s/√5 = 0.70711, t(0.975, 4) = 2.776445 -> half-width 1.963243
    i = t_interval([1, 2, 3, 4, 5])
    assert i.mean == pytest.approx(3.0)
    assert (i.lo, i.hi) == pytest.approx((3 - 1.963243, 3 + 1.963243), abs=1e-6)
    assert i.n == 5 and not i.includes_zero


def test_one_value_has_no_interval_and_nan_seeds_are_left_out():
    i = t_interval([2.5, math.nan])
    assert i.mean == 2.5 and i.n == 1 and math.isnan(i.lo) and i.includes_zero
    assert t_interval([]).n == 0


def test_paired_comparison_by_seed_with_its_interval_and_words():
    # differences B − A: −0.1, −0.2, −0.1 (seed 3 only in A: left out)
    a = {0: 1.0, 1: 2.0, 2: 3.0, 3: 9.0}
    b = {0: 0.9, 1: 1.8, 2: 2.9}
    p = paired(a, b)
    assert p.seeds == (0, 1, 2) and p.lower == 3
    assert p.differences == pytest.approx((-0.1, -0.2, -0.1))
    # mean −0.13333, s = 0.057735, se = 0.033333, t(0.975, 2) = 4.302653 -> half-width 0.143422
    assert p.interval.mean == pytest.approx(-0.133333, abs=1e-6)
    assert (p.interval.lo, p.interval.hi) == pytest.approx((-0.276755, 0.010089), abs=1e-6)
    assert p.sentence() == (
        "lower best validation loss in 3 of 3 seeds, by 0.133 (95 % interval -0.010 to 0.277)"
        " — not distinguishable from seed noise at 3 seeds"
    )


def test_a_clear_effect_is_stated_without_the_caveat():
    a = {s: 2.0 + 0.01 * s for s in range(5)}
    b = {s: a[s] - 0.043 + (0.002 if s % 2 else -0.002) for s in range(5)}
    text = paired(a, b).sentence("best validation loss", "dropout", "overfit")
    assert text.startswith("dropout vs overfit: lower best validation loss in 5 of 5 seeds, by 0.043 (95 % interval")
    assert "not distinguishable" not in text


def test_seeds_that_disagree_are_not_distinguishable():
    p = paired({0: 1.0, 1: 1.0, 2: 1.0}, {0: 1.1, 1: 0.9, 2: 1.05})
    assert p.interval.includes_zero
    assert "higher best validation loss in 2 of 3 seeds" in p.sentence()
    assert "not distinguishable from seed noise at 3 seeds" in p.sentence()


def test_band_averages_curves_step_by_step_and_counts_seeds():
    b = band([([10, 20, 30], [3.0, 2.0, 1.0]), ([10, 20], [5.0, 4.0])])
    assert b.step.tolist() == [10, 20, 30]
    assert b.mean.tolist() == pytest.approx([4.0, 3.0, 1.0])
    assert b.n.tolist() == [2, 2, 1]
    # two values 3 and 5: se = 1, t(0.975, 1) = 12.706205
    assert (b.lo[0], b.hi[0]) == pytest.approx((4 - 12.706205, 4 + 12.706205), abs=1e-5)
    assert math.isnan(b.lo[2])


def test_ties_count_as_neither_lower_nor_higher():
    p = paired({0: 1.0, 1: 1.0, 2: 1.0}, {0: 1.0, 1: 1.0, 2: 1.1})
    assert (p.lower, p.higher) == (0, 1)
    assert p.sentence().startswith("higher best validation loss in 1 of 3 seeds, by 0.033")
    assert (
        paired({0: 1.0}, {0: 0.5}).sentence()
        == "lower best validation loss in 1 of 1 seed, by 0.500 (one seed: no interval yet)"
    )


def test_a_verdict_names_the_clearly_lower_or_higher_arm_or_neither():
    args = ("B lower", "B higher", "no clear difference")
    assert paired({0: 2.0, 1: 2.1, 2: 2.2}, {0: 1.5, 1: 1.6, 2: 1.72}).verdict(*args) == "B lower"
    assert paired({0: 1.5, 1: 1.6, 2: 1.72}, {0: 2.0, 1: 2.1, 2: 2.2}).verdict(*args) == "B higher"
    assert paired({0: 2.0, 1: 2.0, 2: 2.0}, {0: 1.9, 1: 2.2, 2: 1.95}).verdict(*args) == "no clear difference"
    assert paired({0: 2.0}, {0: 1.0}).verdict(*args) == "no clear difference"  # one seed: no interval
