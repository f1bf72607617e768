"""harness.analysis.confidence against published values and against brute force.

Reference values:
- 0 failures in 300: the exact one-sided 95 % upper bound is 1 - 0.05 ** (1/300) = 0.994 %; the
  rule of three says 3/300 = 1 % (issue 18's example).
- R: ``binom.test(1, 10, alternative = "less")$conf.int`` -> [0, 0.3941633].
- Wikipedia, "Fisher's exact test" (the dieting example, table [[1, 9], [11, 3]]): two-sided
  p = 0.002759.
- R: ``fisher.test(matrix(c(3, 1, 1, 3), nrow = 2))`` (the "TeaTasting" example of R's own
  documentation), two-sided: p-value = 0.4857.
- [[0, 10], [10, 0]]: only that table and its mirror are as unlikely, p = 2 / C(20, 10).

Each is also checked by an independent computation: the binomial CDF summed term by term with
exact binomial coefficients, and Fisher's p-value by enumerating every table with the same margins
in exact rational arithmetic (R's rule: tables no more likely than the observed one, within a
relative 1e-7).
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from harness.analysis.confidence import (
    binomial_cdf,
    fisher_exact,
    rule_of_three,
    upper_bound_95,
)


def brute_cdf(k: int, n: int, p: float) -> float:
    return math.fsum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))


def brute_fisher(failed_a: int, requests_a: int, failed_b: int, requests_b: int) -> float:
    total, failed = requests_a + requests_b, failed_a + failed_b
    whole = math.comb(total, requests_a)
    probs = {
        x: Fraction(math.comb(failed, x) * math.comb(total - failed, requests_a - x), whole)
        for x in range(max(0, failed - requests_b), min(failed, requests_a) + 1)
    }
    limit = probs[failed_a] * (1 + Fraction(1, 10**7))
    return float(sum(p for p in probs.values() if p <= limit))


# -- upper bound ------------------------------------------------------------------------------


def test_zero_of_300_is_about_one_percent() -> None:
    bound = upper_bound_95(0, 300)
    assert bound == pytest.approx(1 - 0.05 ** (1 / 300), rel=1e-12)
    assert bound == pytest.approx(0.009936, abs=1e-6)  # 0.994 %
    assert rule_of_three(300) == 0.01  # the approximation, a little above the exact bound
    assert brute_cdf(0, 300, bound) == pytest.approx(0.05, rel=1e-9)


def test_one_of_ten_matches_r_binom_test() -> None:
    bound = upper_bound_95(1, 10)
    assert bound == pytest.approx(0.3941633, abs=1e-7)
    assert brute_cdf(1, 10, bound) == pytest.approx(0.05, rel=1e-9)


@pytest.mark.parametrize(("failed", "requests"), [(3, 40), (26, 1767), (250, 1000), (0, 1)])
def test_the_bound_is_where_the_binomial_cdf_crosses_five_percent(
    failed: int, requests: int
) -> None:
    bound = upper_bound_95(failed, requests)
    assert bound is not None and failed / requests < bound < 1
    assert brute_cdf(failed, requests, bound) == pytest.approx(0.05, rel=1e-8)
    assert binomial_cdf(failed, requests, bound) == pytest.approx(0.05, rel=1e-8)


def test_edges() -> None:
    assert upper_bound_95(0, 0) is None and rule_of_three(0) is None
    assert upper_bound_95(7, 7) == 1.0
    # More requests without a failure, a tighter bound; a failure more, a looser one.
    assert upper_bound_95(0, 3000) < upper_bound_95(0, 300) < upper_bound_95(1, 300)  # type: ignore[operator]
    with pytest.raises(ValueError):
        upper_bound_95(5, 4)


def test_large_counts_stay_exact_and_quick() -> None:
    bound = upper_bound_95(500_000, 1_000_000)
    assert bound == pytest.approx(0.5 + 1.6449 * 0.0005, abs=2e-6)  # the normal limit holds here


# -- Fisher's exact test ----------------------------------------------------------------------


def test_wikipedia_dieting_example() -> None:
    # [[1, 9], [11, 3]]: 1 of 10 men vs 11 of 14 women
    assert fisher_exact(1, 10, 11, 14) == pytest.approx(0.002759, abs=5e-7)
    assert brute_fisher(1, 10, 11, 14) == pytest.approx(0.002759, abs=5e-7)


def test_r_tea_tasting_example() -> None:
    assert fisher_exact(3, 4, 1, 4) == pytest.approx(0.4857, abs=5e-5)
    assert brute_fisher(3, 4, 1, 4) == pytest.approx(0.4857, abs=5e-5)


def test_the_most_extreme_table() -> None:
    assert fisher_exact(0, 10, 10, 10) == pytest.approx(2 / math.comb(20, 10), rel=1e-9)


def test_issue_example_zero_of_1735_vs_26_of_1767() -> None:
    p_value = fisher_exact(0, 1735, 26, 1767)
    assert p_value == pytest.approx(brute_fisher(0, 1735, 26, 1767), rel=1e-9)
    assert p_value < 1e-7  # a difference no one should call chance
    assert fisher_exact(26, 1767, 0, 1735) == pytest.approx(p_value, rel=1e-12)


def test_every_small_table_matches_enumeration() -> None:
    for requests_a in range(1, 7):
        for requests_b in range(1, 7):
            for failed_a in range(requests_a + 1):
                for failed_b in range(requests_b + 1):
                    got = fisher_exact(failed_a, requests_a, failed_b, requests_b)
                    want = brute_fisher(failed_a, requests_a, failed_b, requests_b)
                    assert got == pytest.approx(want, rel=1e-9, abs=1e-15), (
                        failed_a,
                        requests_a,
                        failed_b,
                        requests_b,
                    )


def test_no_difference_and_no_failures() -> None:
    assert fisher_exact(0, 500, 0, 800) == 1.0  # nothing failed: nothing to tell apart
    assert fisher_exact(5, 1000, 5, 1000) == pytest.approx(1.0)
    assert fisher_exact(20, 20, 0, 0) == 1.0  # b made no request: one table only


def test_large_counts_are_walked_not_enumerated() -> None:
    p_value = fisher_exact(300_000, 1_000_000, 310_000, 1_000_000)
    assert 0 < p_value < 1e-40
