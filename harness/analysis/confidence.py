"""How sure a verdict is: an upper bound on a failure rate, and whether two rates differ.

Pure arithmetic on counts (no scipy: the standard library's ``math.lgamma`` is enough).

- ``upper_bound_95(failed, requests)``: the exact one-sided 95 % upper bound on the probability
  that a request fails (Clopper-Pearson), taking each request as an independent trial with the
  same failure probability. For 0 failures in n it is ``1 - 0.05 ** (1 / n)``; the "rule of three"
  ``3 / n`` is its first-order approximation (-ln 0.05 = 2.996), a little larger, so it errs on
  the safe side: 0 of 300 gives 0.994 % exact, 1 % by the rule of three.
- ``fisher_exact(failed_a, requests_a, failed_b, requests_b)``: the two-sided p-value of Fisher's
  exact test on the 2x2 table (failed, succeeded) x (a, b).

Why Fisher's exact test and not a two-proportion z-test (or a chi-squared test): the counts that
matter here are small and often zero ("graceful 0/1735 vs naive 26/1767"). The z-test rests on
the normal approximation of each binomial, which needs several expected failures in each cell
and breaks down exactly there (a zero count gives a zero variance estimate for that variant).
Fisher's test conditions on the margins and sums the exact hypergeometric probabilities, so its
p-value is valid at any count, zeros included; its cost is being slightly conservative, which
is the right side to err on for a claim that two variants differ. The two-sided p-value is R's
``fisher.test`` definition: the total probability of every table with the same margins that is
no more likely than the one observed (with a relative tolerance of 1e-7 for ties).
"""

from __future__ import annotations

import math

CONFIDENCE = 0.95
ALPHA = 1.0 - CONFIDENCE
UPPER_BOUND_METHOD = "exact binomial (Clopper-Pearson), one-sided 95 %"
FISHER_TEST = "Fisher's exact test, two-sided"
SIGNIFICANCE_LEVEL = 0.05

# R's fisher.test counts a table as "as extreme" when its probability is within this relative
# tolerance of the observed one, so float noise does not drop a tie from the sum.
_TIE_TOLERANCE = 1e-7
# Hypergeometric terms more than this many nats below the largest one add less than 1e-300 of
# it: the walk away from the mode stops there instead of visiting a support of millions.
_NEGLIGIBLE_NATS = 700.0
_CF_MAX_ITERATIONS = 1_000_000
_CF_EPSILON = 1e-15
_BISECTION_STEPS = 200


def rule_of_three(requests: int) -> float | None:
    """``3 / n``: the approximate 95 % upper bound after 0 failures in n (for comparison)."""
    return 3.0 / requests if requests > 0 else None


def upper_bound_95(failed: int, requests: int) -> float | None:
    """Exact one-sided 95 % upper bound on the failure probability after ``failed`` failures in
    ``requests`` (Clopper-Pearson): the largest p at which seeing ``failed`` or fewer failures
    still has a probability of at least 5 %. None when there was no request."""
    _check_counts(failed, requests)
    if requests == 0:
        return None
    if failed == 0:
        return 1.0 - math.pow(ALPHA, 1.0 / requests)
    if failed == requests:
        return 1.0
    # P(X <= failed; n, p) falls as p grows: bisect for the p where it crosses ALPHA.
    low, high = failed / requests, 1.0
    for _ in range(_BISECTION_STEPS):
        mid = (low + high) / 2.0
        if binomial_cdf(failed, requests, mid) > ALPHA:
            low = mid
        else:
            high = mid
        if high - low <= 1e-15 * high:
            break
    return high


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), through the regularized incomplete beta function
    (I_{1-p}(n - k, k + 1)), so the cost does not grow with k."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    return _betainc(n - k, k + 1, 1.0 - p)


def fisher_exact(failed_a: int, requests_a: int, failed_b: int, requests_b: int) -> float:
    """Two-sided p-value of Fisher's exact test: are the failure rates of a and b different?

    The table is [[failed_a, requests_a - failed_a], [failed_b, requests_b - failed_b]]; with
    its margins fixed, failed_a is hypergeometric and the p-value sums the probability of every
    value of it no more likely than the one observed."""
    _check_counts(failed_a, requests_a)
    _check_counts(failed_b, requests_b)
    total = requests_a + requests_b
    failed = failed_a + failed_b
    low = max(0, failed - requests_b)
    high = min(failed, requests_a)
    if low == high:
        return 1.0  # one table only: nothing could have come out differently

    def log_p(x: int) -> float:
        return (
            _log_choose(failed, x)
            + _log_choose(total - failed, requests_a - x)
            - _log_choose(total, requests_a)
        )

    # The hypergeometric distribution is unimodal: walk from its mode both ways until terms
    # become negligible, summing those no more likely than the observed table.
    mode = min(max((requests_a + 1) * (failed + 1) // (total + 2), low), high)
    log_mode = log_p(mode)
    threshold = log_p(failed_a) + math.log1p(_TIE_TOLERANCE)
    p_value = 0.0
    for start, stop, step in ((mode, low - 1, -1), (mode + 1, high + 1, 1)):
        for x in range(start, stop, step):
            term = log_p(x)
            if term < log_mode - _NEGLIGIBLE_NATS:
                break
            if term <= threshold:
                p_value += math.exp(term)
    return min(1.0, p_value)


def _check_counts(failed: int, requests: int) -> None:
    if not 0 <= failed <= requests:
        raise ValueError(f"need 0 <= failed <= requests, got {failed} of {requests}")


def _log_choose(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def _betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b), by its continued fraction (Lentz's
    method), on the side of x where the fraction converges quickly."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, 1.0 - x) / b


def _beta_fraction(a: float, b: float, x: float) -> float:
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, _CF_MAX_ITERATIONS + 1):
        m2 = 2 * m
        for numerator in (
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            step = d * c
            h *= step
        if abs(step - 1.0) < _CF_EPSILON:
            return h
    return h  # pragma: no cover - converges in O(sqrt(max(a, b))) steps, far below the cap
