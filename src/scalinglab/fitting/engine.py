"""The estimator: robust loss in log space, variable projection, multi-start, batched LM.

The objective is Chinchilla's (Hoffmann et al. 2022; Besiroglu et al. 2024):
``sum_i w_i * Huber_delta(log f(x_i) - log y_i)``, delta = 1e-3 by default.

1. **Starts by variable projection.** On a grid of the nonlinear parameters (exponents) the
   linear ones (E, A, B) are solved exactly by non-negative least squares on relative
   residuals, ``(f - y)/y ~ log f - log y``. This turns a badly conditioned 5-D search into a
   2-D one (Xu et al. 2026), so a coarse grid already lands in the right basin.
2. **Polish by batched Levenberg-Marquardt** on the exact Huber objective, all free parameters
   at once, with Huber handled by iteratively reweighted least squares. The solver works on a
   batch of parameter sets in one set of numpy operations, so the best starts, the bootstrap
   replicates and the leave-one-out refits are all one call.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..expr import shorten
from ..laws.base import Law, Parameter

#: Most grid points evaluated by variable projection before the local search.
MAX_GRID_POINTS = 4096
#: Most observations the grid of starting points is scored on (see :func:`best_fit`).
MAX_SEARCH_POINTS = 20_000
#: Further iterations for the best start when the batched search has not converged.
POLISH_ITERATIONS = 2000


def huber(r: np.ndarray, delta: float) -> np.ndarray:
    """Huber loss, as ``scipy.special.huber(delta, r)``: r^2/2 inside delta, linear outside."""
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


class ParameterSpace:
    """Which parameters are free, and their bounds in search coordinates ``u``.

    ``u`` holds the nonlinear parameters first (log of log-scale ones), then the linear ones
    *rescaled*: each linear coefficient multiplies its basis function divided by the basis's
    value at the data's geometric centre. For ``A * N**-alpha`` that is ``A' * (N/N_0)**-alpha`` with
    ``N_0`` the data's centre, which removes the near-collinearity of ``A`` and ``alpha``
    (the ill-conditioning Xu et al. 2026 describe) without changing the model.
    """

    def __init__(self, law: Law, fixed: Mapping[str, float]) -> None:
        if law.evaluate_only:
            raise InputError(
                f"law {shorten(law.name)} combines fitted laws: it is evaluated, not fitted"
            )
        self.law = law
        self.fixed = {k: float(v) for k, v in fixed.items()}
        free = [p for p in law.parameters if p.name not in self.fixed]
        self.nonlinear: list[Parameter] = [p for p in free if not p.linear]
        self.linear: list[Parameter] = [p for p in free if p.linear]
        self.free: list[Parameter] = self.nonlinear + self.linear
        self.names = [p.name for p in self.free]
        self.lower = np.array([self._to_u(p, p.lower) for p in self.free])
        self.upper = np.array([self._to_u(p, p.upper) for p in self.free])
        self.n_nonlinear = len(self.nonlinear)

    @staticmethod
    def _to_u(p: Parameter, x: float) -> float:
        if p.log_scale:
            return math.log(x) if x > 0 else -math.inf
        return x

    def nonlinear_values(self, u: np.ndarray) -> dict[str, np.ndarray | float]:
        """Fixed values and the nonlinear parameters of a batch ``u`` (S, k) as (S, 1) columns."""
        out: dict[str, np.ndarray | float] = dict(self.fixed)
        for i, p in enumerate(self.nonlinear):
            col = u[:, i : i + 1]
            if p.log_scale:
                with np.errstate(over="ignore"):
                    col = np.exp(col)
            out[p.name] = col
        return out


@dataclass
class Problem:
    """Observations of one metric, ready for the estimator."""

    law: Law
    data: dict[str, np.ndarray]
    y: np.ndarray
    groups: np.ndarray  # run index of each observation, for resampling whole runs
    space: ParameterSpace
    delta: float = 1e-3
    #: Weight of each observation in the objective (None: all 1); bootstrap counts multiply it.
    weights: np.ndarray | None = None
    #: Factor on the loss of predictions above the observation (1: symmetric). Above 1 the fit
    #: leans toward the lower envelope of the runs (kyo-takano's ``chinchilla`` toolkit uses an
    #: asymmetric absolute error with a factor of 10 on the raw loss for that reason).
    asymmetry: float = 1.0
    #: Where linear terms are normalised (default: the data's centre); a subset of the
    #: observations keeps its problem's, so that both share one search space.
    centre: dict[str, float] | None = None

    def __post_init__(self) -> None:
        # The data's centre (geometric where positive): where linear terms are normalised. It
        # rides along as one extra observation so each evaluation is a single call of the law.
        if self.centre is None:
            self.centre = {
                k: float(np.exp(np.mean(np.log(v))) if np.all(v > 0) else np.mean(v))
                for k, v in self.data.items()
            }
        self._with_centre = {k: np.append(v, self.centre[k]) for k, v in self.data.items()}
        with np.errstate(all="ignore"):
            self.log_y = np.log(self.y)

    def subset(self, index: np.ndarray) -> Problem:
        """The same problem on some of its observations (same search space and centre)."""
        return Problem(
            self.law, {k: v[index] for k, v in self.data.items()}, self.y[index],
            np.unique(self.groups[index], return_inverse=True)[1], self.space, self.delta,
            None if self.weights is None else self.weights[index], self.asymmetry, self.centre,
        )  # fmt: skip

    @property
    def n_groups(self) -> int:
        return int(self.groups.max()) + 1 if len(self.groups) else 0

    def _parts(
        self, u: np.ndarray
    ) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray]]:
        """Rescaled basis of each free linear parameter, the offset, and the rescaling factors."""
        shape = (u.shape[0], self.y.shape[0] + 1)
        values = self.space.nonlinear_values(u)
        basis, offset = self.law.basis_and_offset(self._with_centre, values, shape)
        offset = offset[:, :-1]
        scaled: dict[str, np.ndarray] = {}
        scales: dict[str, np.ndarray] = {}
        for name, b in zip(self.law.decomposition.linear, basis, strict=True):
            if name in self.space.fixed:
                offset = offset + self.space.fixed[name] * b[:, :-1]
                continue
            scale = np.abs(b[:, -1:])
            scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
            scales[name] = scale
            scaled[name] = b[:, :-1] / scale
        return scaled, offset, scales

    def model(self, u: np.ndarray) -> np.ndarray:
        """Predictions, shape (S, n), for a batch of search vectors."""
        scaled, offset, _ = self._parts(u)
        return self._combine(u, scaled, offset)

    def _combine(
        self, u: np.ndarray, scaled: dict[str, np.ndarray], offset: np.ndarray
    ) -> np.ndarray:
        f = offset.copy()
        for j, p in enumerate(self.space.linear):
            f += u[:, self.space.n_nonlinear + j, None] * scaled[p.name]
        return f

    def natural(self, u: np.ndarray) -> np.ndarray:
        """Search vectors (S, k) -> parameter values in natural units (S, k), free order."""
        out = u.astype(float).copy()
        for i, p in enumerate(self.space.nonlinear):
            if p.log_scale:
                out[:, i] = np.exp(u[:, i])
        if self.space.linear:
            _, _, scales = self._parts(u)
            for j, p in enumerate(self.space.linear):
                out[:, self.space.n_nonlinear + j] = (
                    u[:, self.space.n_nonlinear + j] / scales[p.name][:, 0]
                )
        return out

    def residuals(self, f: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            r = np.log(f) - self.log_y
        return np.where(np.isfinite(r), r, np.nan)

    def observation_weights(self, weights: np.ndarray | float = 1.0) -> np.ndarray | float:
        """``weights`` (bootstrap counts, masks) times the problem's own observation weights."""
        return weights if self.weights is None else weights * self.weights

    def loss_factor(self, r: np.ndarray) -> np.ndarray | float:
        """The asymmetry's factor on each residual's loss (1 where symmetric)."""
        return 1.0 if self.asymmetry == 1.0 else np.where(r > 0, self.asymmetry, 1.0)

    def objective(self, u: np.ndarray, weights: np.ndarray | float = 1.0) -> np.ndarray:
        r = self.residuals(self.model(u))
        loss = huber(r, self.delta) * self.loss_factor(r)
        total = np.sum(self.observation_weights(weights) * loss, axis=-1)
        return np.where(np.isfinite(total), total, np.inf)

    def jacobian(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predictions (S, n) and d log f / d u (S, n, k)."""
        k_nl = self.space.n_nonlinear
        S = u.shape[0]
        # Forward differences for the nonlinear parameters, all shifts in one batch.
        steps = 1e-7 * np.maximum(np.abs(u[:, :k_nl]), 1.0)
        batch = np.repeat(u[None], k_nl + 1, axis=0)
        for i in range(k_nl):
            batch[i + 1, :, i] += steps[:, i]
        scaled, offset, _ = self._parts(batch.reshape((k_nl + 1) * S, -1))
        f_all = self._combine(batch.reshape((k_nl + 1) * S, -1), scaled, offset).reshape(
            k_nl + 1, S, -1
        )
        f = f_all[0]
        cols = [(f_all[i + 1] - f) / steps[:, i : i + 1] for i in range(k_nl)]
        scaled = {name: b[:S] for name, b in scaled.items()}
        cols.extend(scaled[p.name] for p in self.space.linear)
        with np.errstate(all="ignore"):
            jac = np.stack(cols, axis=-1) / f[..., None]
        return f, jac


# -- starting points: variable projection on a grid ----------------------------------------


def start_grid(space: ParameterSpace, rng: np.random.Generator) -> np.ndarray:
    """Grid of nonlinear parameters (in u space), shape (G, n_nonlinear)."""
    axes = [
        np.array([ParameterSpace._to_u(p, g) for g in p.grid]) for p in space.nonlinear
    ]  # fmt: skip
    if not axes:
        return np.zeros((1, 0))
    total = math.prod(len(a) for a in axes)
    if total <= MAX_GRID_POINTS:
        return np.array(list(itertools.product(*axes)), dtype=float)
    # Too many combinations: a seeded random subset of the product keeps the cost bounded.
    picks = np.stack([rng.integers(0, len(a), MAX_GRID_POINTS) for a in axes], axis=-1)
    return np.stack([a[picks[:, j]] for j, a in enumerate(axes)], axis=-1)


#: Up to this many non-negative linear coefficients, variable projection enumerates every
#: active set: exact, and the results every built-in law (3 at most) has always had. Beyond,
#: the 2^k solves cost too much (on 81 grid points: 12 coefficients 0.4 s, 16 9.8 s, 20
#: 276 s) and a batched Lawson-Hanson takes over: about k iterations of k^3 each.
MAX_ENUMERATED_COEFFICIENTS = 6


def project_linear(
    problem: Problem, theta: np.ndarray, weights: np.ndarray | float = 1.0
) -> np.ndarray:
    """Best linear parameters for each row of ``theta`` (nonlinear, u space): full u (G, k).

    Minimises ``sum w ((f - y)/y)^2`` over the linear parameters, non-negative where their
    lower bound is 0 (:func:`nonnegative_least_squares`), vectorised across grid points.
    """
    space = problem.space
    n_lin = len(space.linear)
    u = np.concatenate([theta, np.zeros((theta.shape[0], n_lin))], axis=1)
    if n_lin == 0:
        return u
    scaled, offset, _ = problem._parts(u)
    phi = np.stack([scaled[p.name] for p in space.linear], axis=-1) / problem.y[:, None]
    target = (problem.y - offset) / problem.y
    w = np.broadcast_to(np.asarray(problem.observation_weights(weights), dtype=float), target.shape)
    good = np.isfinite(phi).all(axis=(1, 2)) & np.isfinite(target).all(axis=1)
    if not good.any():
        # Nothing to start from: no search could recover (e.g. params**1e308 is inf everywhere).
        raise InputError(
            f"law {shorten(problem.law.name)} has no finite value on these data at any starting "
            f"point ({len(theta):,} tried): a term overflows or is undefined"
        )
    phi = np.where(good[:, None, None], phi, 0.0)
    target = np.where(good[:, None], target, 0.0)
    gram = np.einsum("gn,gnk,gnl->gkl", w, phi, phi)
    rhs = np.einsum("gn,gnk,gn->gk", w, phi, target)
    base = np.einsum("gn,gn,gn->g", w, target, target)
    nonneg = np.array([p.lower >= 0 for p in space.linear])
    u[:, space.n_nonlinear :] = nonnegative_least_squares(gram, rhs, base, nonneg)
    u[~good, space.n_nonlinear :] = np.nan
    return u


def nonnegative_least_squares(
    gram: np.ndarray,
    rhs: np.ndarray,
    base: np.ndarray,
    nonneg: np.ndarray,
    *,
    method: str = "auto",
) -> np.ndarray:
    """``argmin_c  base - 2 c.rhs + c.gram.c`` with ``c[nonneg] >= 0``, for each row: (G, k).

    The least-squares problem ``min |X c - t|^2`` in its normal equations (``gram = X'X``,
    ``rhs = X't``, ``base = t't``, one problem per grid point). A relative ridge of 1e-12
    keeps collinear bases solvable. ``method``: ``"enumerate"`` solves every active set and
    keeps the best feasible one (exact; 2^k solves), ``"lawson-hanson"`` runs Lawson and
    Hanson's active-set algorithm (1974, ch. 23) on all rows at once, ``"auto"`` enumerates
    up to :data:`MAX_ENUMERATED_COEFFICIENTS` non-negative coefficients.
    """
    G, k = rhs.shape
    ridge = 1e-12 * np.maximum(np.einsum("gkk->g", gram), 1e-300)
    if method == "auto":
        method = "enumerate" if nonneg.sum() <= MAX_ENUMERATED_COEFFICIENTS else "lawson-hanson"
    if method == "lawson-hanson":
        return _lawson_hanson(gram + ridge[:, None, None] * np.eye(k), rhs, nonneg)
    best_cost = np.full(G, np.inf)
    best = np.zeros((G, k))
    for mask_bits in itertools.product([False, True], repeat=int(nonneg.sum())):
        active = ~nonneg
        active[np.flatnonzero(nonneg)] = mask_bits
        coef = np.zeros((G, k))
        if active.any():
            idx = np.flatnonzero(active)
            sub = gram[:, idx][:, :, idx] + ridge[:, None, None] * np.eye(len(idx))
            coef[:, idx] = np.linalg.solve(sub, rhs[:, idx][..., None])[..., 0]
        cost = (
            base
            - 2 * np.einsum("gk,gk->g", coef, rhs)
            + np.einsum("gk,gkl,gl->g", coef, gram, coef)
        )
        feasible = (coef[:, nonneg] >= 0).all(axis=1) & (cost < best_cost)
        best_cost = np.where(feasible, cost, best_cost)
        best = np.where(feasible[:, None], coef, best)
    return best


def _lawson_hanson(gram: np.ndarray, rhs: np.ndarray, nonneg: np.ndarray) -> np.ndarray:
    """Lawson-Hanson NNLS on normal equations, batched: each row keeps its own passive set.

    Free coefficients (not ``nonneg``) are always passive. The outer loop frees the
    coefficient whose gradient most wants to grow; the inner loop steps back towards the
    feasible region until the passive solution is non-negative. Every step keeps ``c``
    feasible, so a row stopped by the iteration cap (3k outer steps, as scipy's ``nnls``)
    still returns a feasible point.
    """
    G, k = rhs.shape
    # A row whose sums overflowed has no solution; it is solved as a harmless identity.
    finite = np.isfinite(gram).all(axis=(1, 2)) & np.isfinite(rhs).all(axis=1)
    gram = np.where(finite[:, None, None], gram, np.eye(k))
    rhs = np.where(finite[:, None], rhs, 0.0)
    passive = np.tile(~nonneg, (G, 1))
    coef = _solve_passive(gram, rhs, passive)
    for _ in range(3 * k):
        gradient = rhs - np.einsum("gkl,gl->gk", gram, coef)  # minus the objective's, halved
        # Only a gradient above its rounding (~k eps (|rhs| + |gram| |c|)) counts. No looser:
        # along nearly collinear bases the curvature is down to the ridge, so even a gradient
        # of 1e-12 of the scale buys a real decrease (1e-6 of the cost was seen).
        scale = np.abs(rhs).max(axis=1) + np.abs(gram).max(axis=(1, 2)) * np.abs(coef).max(axis=1)
        grows = nonneg & ~passive & (gradient > 10 * k * np.finfo(float).eps * scale[:, None])
        rows = np.flatnonzero(grows.any(axis=1))
        if rows.size == 0:
            break
        entering = np.argmax(np.where(grows[rows], gradient[rows], -np.inf), axis=1)
        passive[rows, entering] = True
        while rows.size:
            trial = _solve_passive(gram[rows], rhs[rows], passive[rows])
            negative = passive[rows] & nonneg & (trial <= 0)
            fine = ~negative.any(axis=1)
            coef[rows[fine]] = trial[fine]
            rows, trial, negative = rows[~fine], trial[~fine], negative[~fine]
            # Move from the current point towards the trial one until a coefficient hits 0;
            # that coefficient (and any other now at 0) leaves the passive set.
            current = coef[rows]
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(negative, current / (current - trial), np.inf)
            ratio = np.nan_to_num(ratio, nan=0.0)
            step = ratio.min(axis=1, keepdims=True)
            current = current + step * (trial - current)
            leaving = negative & ((ratio <= step) | (current <= 0))
            current[leaving] = 0.0
            coef[rows] = current
            passive[rows] &= ~leaving
    coef[~finite] = np.nan
    return coef


def _solve_passive(gram: np.ndarray, rhs: np.ndarray, passive: np.ndarray) -> np.ndarray:
    """Least squares over each row's passive coefficients, the others held at 0."""
    both = passive[:, :, None] & passive[:, None, :]
    system = np.where(both, gram, 0.0) + np.eye(gram.shape[-1]) * ~passive[:, :, None]
    return np.linalg.solve(system, np.where(passive, rhs, 0.0)[..., None])[..., 0]


# -- local search: batched Levenberg-Marquardt with Huber IRLS weights ----------------------


#: Why a local search stopped, scipy's ``status``/``message`` habit: codes <= 1 are converged.
STATUS_MESSAGES = {
    0: "converged: the objective's relative decrease fell below the tolerance",
    1: "converged: no step lowers the objective and the model predicts no further decrease",
    2: "not converged: the iteration limit was reached",
    3: "not converged: no step lowers the objective, yet the gradient is not small (stalled)",
    4: "not converged: the objective is not finite",
}
RUNNING = -1
#: A stuck search is at a minimum when the Gauss-Newton model predicts a relative decrease of
#: the objective below this (forward-difference Jacobians carry ~1e-7 relative error, so the
#: model cannot resolve decreases much smaller than their square).
STALL_RTOL = 1e-10


@dataclass
class LMResult:
    u: np.ndarray  # (S, k)
    objective: np.ndarray  # (S,)
    status: np.ndarray  # (S,) int, a key of STATUS_MESSAGES
    iterations: int

    @property
    def converged(self) -> np.ndarray:
        """(S,) bool: the rows whose search converged (status 0 or 1)."""
        return (self.status >= 0) & (self.status <= 1)

    def message(self, i: int = 0) -> str:
        """Why row ``i``'s search stopped."""
        return STATUS_MESSAGES[int(self.status[i])]

    def take(self, rows: slice | np.ndarray) -> LMResult:
        return LMResult(self.u[rows], self.objective[rows], self.status[rows], self.iterations)

    @classmethod
    def concatenate(cls, parts: list[LMResult]) -> LMResult:
        return cls(
            u=np.concatenate([p.u for p in parts]),
            objective=np.concatenate([p.objective for p in parts]),
            status=np.concatenate([p.status for p in parts]),
            iterations=max(p.iterations for p in parts),
        )


def levenberg_marquardt(
    problem: Problem,
    u0: np.ndarray,
    weights: np.ndarray | float = 1.0,
    *,
    max_iter: int = 300,
    ftol: float = 1e-12,
) -> LMResult:
    """Minimise the Huber objective from each row of ``u0`` (one batch, one loop).

    ``weights`` broadcasts to (S, n): bootstrap counts or leave-one-out masks per row.
    """
    space = problem.space
    u = np.clip(u0.astype(float).copy(), space.lower, space.upper)
    S, k = u.shape
    lam = np.full(S, 1e-3)
    done = np.zeros(S, dtype=bool)
    status = np.full(S, RUNNING)
    w = np.broadcast_to(np.asarray(weights, dtype=float), (S, problem.y.shape[0]))
    F = problem.objective(u, w)  # the problem's own weights are applied inside
    eye = np.eye(k)
    it = 0
    while it < max_iter:
        todo = np.flatnonzero(~done)
        if todo.size == 0:
            break
        it += 1
        ut, wt = u[todo], w[todo]
        f, jac = problem.jacobian(ut)
        r = problem.residuals(f)
        bad = ~np.isfinite(r) | ~np.isfinite(jac).all(axis=-1)
        r = np.where(bad, 0.0, r)
        jac = np.where(bad[..., None], 0.0, jac)
        omega = np.minimum(1.0, problem.delta / np.maximum(np.abs(r), 1e-300))
        wo = problem.observation_weights(wt) * omega * problem.loss_factor(r)
        with np.errstate(over="ignore", invalid="ignore"):  # a run-off start: see below
            grad = np.einsum("sn,sn,snk->sk", wo, r, jac)
            hess = np.matmul(np.swapaxes(jac * wo[..., None], 1, 2), jac)
        # Parameters at a bound whose gradient pushes outward stay there this step.
        at_lower = (ut <= space.lower) & (grad > 0)
        at_upper = (ut >= space.upper) & (grad < 0)
        pinned = at_lower | at_upper
        grad = np.where(pinned, 0.0, grad)
        keep = ~pinned
        hess = hess * keep[:, :, None] * keep[:, None, :] + eye * pinned[:, :, None]
        with np.errstate(over="ignore", invalid="ignore"):
            diag = np.maximum(np.einsum("skk->sk", hess), 1e-30)
            system = hess + lam[todo, None, None] * diag[:, :, None] * eye
        finite = np.isfinite(system).all(axis=(1, 2)) & np.isfinite(grad).all(axis=1)
        system = np.where(finite[:, None, None], system, eye)  # no step where it overflowed
        grad = np.where(finite[:, None], grad, 0.0)
        try:
            step = -np.linalg.solve(system, grad[..., None])[..., 0]
        except np.linalg.LinAlgError:
            step = -np.stack(
                [np.linalg.lstsq(a, g, rcond=None)[0] for a, g in zip(system, grad, strict=True)]
            )
        trial = np.clip(ut + step, space.lower, space.upper)
        F_trial = problem.objective(trial, wt)
        F_old = F[todo]
        accept = F_trial < F_old
        with np.errstate(invalid="ignore"):  # inf - inf where no start has a finite objective
            improvement = np.where(accept, F_old - F_trial, 0.0)
        u[todo[accept]] = trial[accept]
        F[todo[accept]] = F_trial[accept]
        lam[todo] = np.where(accept, lam[todo] / 3.0, lam[todo] * 4.0)
        small = accept & (improvement <= ftol * np.maximum(np.abs(F_old), 1e-30))
        stuck = lam[todo] > 1e12
        finished = small | stuck
        if stuck.any():
            # No step lowers the objective. At a minimum the Gauss-Newton model agrees: the
            # decrease it predicts is below the objective's precision. Elsewhere the search
            # has stalled (e.g. on the kink of the Huber loss) and must not count as converged.
            # A start whose coefficients ran off (an exponential's scale far below the data
            # makes its linear coefficient ~1e150) has an overflowed Gauss-Newton matrix, on
            # which numpy's SVD raises: it predicts nothing, so it has stalled.
            with np.errstate(all="ignore"):
                gn = hess[stuck] + 1e-12 * diag[stuck][:, :, None] * eye
            g = grad[stuck]
            predicted = np.full(len(g), np.inf)
            ok = np.isfinite(gn).all(axis=(1, 2)) & np.isfinite(g).all(axis=1)
            with np.errstate(all="ignore"):
                try:
                    predicted[ok] = 0.5 * np.einsum(
                        "sk,sk->s", g[ok], (np.linalg.pinv(gn[ok]) @ g[ok][..., None])[..., 0]
                    )
                except np.linalg.LinAlgError:
                    pass
            at_minimum = predicted <= STALL_RTOL * np.maximum(np.abs(F_old[stuck]), 1e-30)
            status[todo[stuck]] = np.where(at_minimum, 1, 3)
        status[todo[small]] = 0
        done[todo[finished]] = True
    status[~done] = 2
    status[~np.isfinite(F)] = 4
    return LMResult(u=u, objective=F, status=status, iterations=it)


def best_fit(problem: Problem, *, n_starts: int = 8, seed: int = 0) -> tuple[LMResult, int]:
    """Multi-start search: the best of ``n_starts`` LM runs from the best grid points.

    Returns the LM result of the winner (batch of one) and the number of grid points tried.
    """
    rng = np.random.default_rng(seed)
    theta = start_grid(problem.space, rng)
    # The grid is scored on at most MAX_SEARCH_POINTS observations, evenly spread: a grid of
    # thousands of points times every observation of a real-size log would not fit in memory,
    # and the starts only need to land in the right basin; the local search then uses all.
    n = problem.y.shape[0]
    search = problem if n <= MAX_SEARCH_POINTS else problem.subset(
        np.linspace(0, n - 1, MAX_SEARCH_POINTS).round().astype(int)
    )  # fmt: skip
    starts = project_linear(search, theta)
    scores = search.objective(np.nan_to_num(starts, nan=0.0))
    scores = np.where(np.isnan(starts).any(axis=1), np.inf, scores)
    order = np.argsort(scores)
    picked = starts[order[: max(1, n_starts)]]
    picked = picked[np.isfinite(scores[order[: max(1, n_starts)]])]
    if picked.size == 0:
        picked = np.nan_to_num(starts[order[:1]], nan=1.0)
    result = levenberg_marquardt(problem, picked)
    i = int(np.argmin(result.objective))
    best = result.take(slice(i, i + 1))
    if not best.converged[0]:
        # Laws with many nonlinear parameters (Farseer: 7) crawl along flat valleys; the
        # winning start alone is cheap to polish for longer.
        more = levenberg_marquardt(problem, best.u, max_iter=POLISH_ITERATIONS)
        best = LMResult(more.u, more.objective, more.status, best.iterations + more.iterations)
    return best, len(theta)


def bootstrap_weights(
    groups: np.ndarray, n_boot: int, rng: np.random.Generator
) -> Callable[[np.ndarray], np.ndarray]:
    """Observation weights from resampling whole runs with replacement: a function giving
    the (len(idx), n) weights of replicates ``idx``, so that (B, n) is never held at once
    (the (B, runs) counts are drawn up front, so replicates do not depend on the chunking).

    Example:
        >>> rows = bootstrap_weights(np.array([0, 0, 1]), 4, np.random.default_rng(0))
        >>> rows(np.arange(4)).shape, rows(np.arange(4))[:, 0].tolist() == rows(np.arange(4))[:, 1].tolist()
        ((4, 3), True)
    """
    n_groups = int(groups.max()) + 1
    counts = rng.multinomial(n_groups, np.full(n_groups, 1.0 / n_groups), size=n_boot)
    return lambda idx: counts[idx][:, groups].astype(float)


def block_bootstrap_weights(
    order: np.ndarray, n_boot: int, rng: np.random.Generator, block: int | None = None
) -> np.ndarray:
    """Observation weights (B, n) from a circular block bootstrap along one run (Politis and
    Romano 1992).

    ``order`` lists the observations in step order. Blocks of ``block`` consecutive
    checkpoints (default ceil(n^(1/3))) are drawn with replacement until n are drawn, so
    neighbouring checkpoints, whose errors are correlated, stay together.

    Example:
        >>> w = block_bootstrap_weights(np.arange(8), 3, np.random.default_rng(0), block=2)
        >>> w.shape, w.sum(axis=1).tolist()
        ((3, 8), [8.0, 8.0, 8.0])
    """
    n = len(order)
    size = min(n, block or math.ceil(n ** (1 / 3)))
    # Circular blocks: every checkpoint is equally likely to be drawn (plain moving blocks
    # rarely draw the first and last, and the first carry the most about the exponents).
    starts = rng.integers(0, n, size=(n_boot, math.ceil(n / size)))
    picked = ((starts[..., None] + np.arange(size)) % n).reshape(n_boot, -1)[:, :n]
    counts = np.zeros((n_boot, n))
    np.add.at(counts, (np.arange(n_boot)[:, None], picked), 1.0)
    weights = np.empty_like(counts)
    weights[:, order] = counts
    return weights


#: Iterations a refit from the full-data optimum may take (bootstrap replicates, leave-one-
#: out refits). Most converge in a few dozen; the cap only bounds the stragglers, which run on
#: alone (a batch shrinks to its unconverged rows), so a generous cap costs little. At 60, 76
#: of 1,000 replicates of Epoch's Chinchilla fit stopped unconverged, and 581 of Farseer's.
REFIT_ITERATIONS = 2000
#: Most cells (rows x observations x parameters) one batch of refits holds at once.
MAX_BATCH_CELLS = 20_000_000


def refit_many(
    problem: Problem,
    u_start: np.ndarray,
    weights: np.ndarray | Callable[[np.ndarray], np.ndarray],
    *,
    n: int | None = None,
    max_iter: int = REFIT_ITERATIONS,
    ftol: float = 1e-9,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> LMResult:
    """Refit from ``u_start`` (1, k) under each row of ``weights`` (B, n), on all cores.

    Used for bootstrap replicates and leave-one-out refits: every refit starts at the full-data
    optimum, where a few dozen LM iterations suffice. ``weights`` may also be a function
    giving the rows of a chunk (with ``n`` rows in all), so that (B, n) is never held at once.
    Chunks run in threads, since numpy releases the GIL inside its array operations, and are
    small enough that a batch's arrays stay under :data:`MAX_BATCH_CELLS` cells;
    ``progress(done, total)`` follows them.
    """
    rows_of = weights if callable(weights) else (lambda idx: weights[idx])
    n = n if n is not None else len(weights)  # type: ignore[arg-type]
    workers = workers or min(os.cpu_count() or 1, max(1, n // 128))
    per_row = max(1, problem.y.shape[0] * (len(problem.space.free) + 2))
    largest = max(1, MAX_BATCH_CELLS // per_row)
    # Chunks small enough for a progress bar to move, large enough to stay vectorised.
    n_chunks = max(workers, min(20, n // 64)) if progress else workers
    n_chunks = max(n_chunks, math.ceil(n / largest))
    chunks = [c for c in np.array_split(np.arange(n), n_chunks) if len(c)]

    def run(idx: np.ndarray) -> LMResult:
        start = np.repeat(u_start, len(idx), axis=0)
        return levenberg_marquardt(problem, start, rows_of(idx), max_iter=max_iter, ftol=ftol)

    parts: list[LMResult] = []
    with ThreadPoolExecutor(workers) as pool:
        for part, idx in zip(pool.map(run, chunks), chunks, strict=True):
            parts.append(part)
            if progress:
                progress(int(idx[-1]) + 1, n)
    return LMResult.concatenate(parts)
