"""BG/NBD (Fader, Hardie & Lee 2005), fitted by maximum likelihood: the churn baseline.

Each customer buys at a Poisson rate (Gamma(r, alpha) across customers) and may drop out after
any purchase with probability p (Beta(a, b)). From (x, t_x, T) it gives P(alive); the baseline
churn score is P(no purchase in the next t weeks)
    = 1 - P(alive) * (1 - ((alpha+T)/(alpha+T+t))^(r+x)),
which ignores drop-out inside the window (a slight under-estimate of churn; ranking barely moves).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import betaln, gammaln

__all__ = ["BgNbd"]


def _log_term(
    r: float, alpha: float, a: float, b: float, x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray
) -> np.ndarray:
    """log(a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x)) for x > 0; -inf where x == 0."""
    out = np.full(x.shape, -np.inf)
    m = x > 0
    out[m] = (
        np.log(a)
        - np.log(b + x[m] - 1)
        + (r + x[m]) * (np.log(alpha + big_t[m]) - np.log(alpha + t_x[m]))
    )
    return out


@dataclass(frozen=True)
class BgNbd:
    r: float
    alpha: float
    a: float
    b: float

    @classmethod
    def fit(cls, x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray) -> BgNbd:
        """Maximum-likelihood fit (parameters on a log scale, L-BFGS-B)."""

        def nll(log_params: np.ndarray) -> float:
            r, alpha, a, b = np.exp(log_params)
            ll = (
                gammaln(r + x)
                - gammaln(r)
                + r * np.log(alpha)
                + betaln(a, b + x)
                - betaln(a, b)
                - (r + x) * np.log(alpha + big_t)
                + np.logaddexp(0.0, _log_term(r, alpha, a, b, x, t_x, big_t))
            )
            return float(-ll.sum())

        result = minimize(nll, x0=np.zeros(4), method="L-BFGS-B", bounds=[(-8, 8)] * 4)
        r, alpha, a, b = np.exp(result.x)
        return cls(float(r), float(alpha), float(a), float(b))

    def p_alive(self, x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray) -> np.ndarray:
        term = _log_term(self.r, self.alpha, self.a, self.b, x, t_x, big_t)
        return 1.0 / (1.0 + np.exp(term))

    def p_churn(
        self, x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray, horizon: float
    ) -> np.ndarray:
        """P(no purchase in the next `horizon` weeks)."""
        alive = self.p_alive(x, t_x, big_t)
        quiet = ((self.alpha + big_t) / (self.alpha + big_t + horizon)) ** (self.r + x)
        return 1.0 - alive * (1.0 - quiet)
