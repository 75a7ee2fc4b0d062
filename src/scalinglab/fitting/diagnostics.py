"""What a fit must say about itself: residuals, bounds, identification, influential runs."""

from __future__ import annotations

import math

import numpy as np

from .engine import Problem, levenberg_marquardt, refit_many

#: A run whose log residual is this many robust SDs from the fit is an outlier.
OUTLIER_SDS = 10.0
#: Cook's distance above which a run is reported as influential ("worth investigating").
COOK_THRESHOLD = 0.5
#: An interval whose upper end is this many times its lower end leaves a parameter unidentified.
WEAK_RATIO = 3.0


def robust_sd(r: np.ndarray) -> float:
    """1.4826 * median absolute deviation: the SD of normal data, not swayed by outliers."""
    r = r[np.isfinite(r)]
    if r.size == 0:
        return math.nan
    return float(1.4826 * np.median(np.abs(r - np.median(r))))


def residual_summary(problem: Problem, u_hat: np.ndarray) -> dict[str, float]:
    return summarise_residuals(problem.model(u_hat)[0], problem.y)


def summarise_residuals(fitted: np.ndarray, observed: np.ndarray) -> dict[str, float]:
    """Relative and log residuals of ``fitted`` against ``observed``, summarised."""
    with np.errstate(all="ignore"):
        rel = fitted / observed - 1
        r = np.log(fitted) - np.log(observed)
    r = np.where(np.isfinite(r), r, np.nan)
    return {
        "median_abs_rel_error": float(np.nanmedian(np.abs(rel))),
        "mean_abs_rel_error": float(np.nanmean(np.abs(rel))),
        "max_abs_rel_error": float(np.nanmax(np.abs(rel))),
        "robust_sd": robust_sd(r),
        "rms_log": float(np.sqrt(np.nanmean(r * r))),
    }


def bound_warnings(problem: Problem, natural: np.ndarray) -> list[str]:
    found = []
    for p, value in zip(problem.space.free, natural, strict=True):
        for side, bound in (("lower", p.lower), ("upper", p.upper)):
            if math.isfinite(bound) and abs(value - bound) <= 1e-6 * max(1.0, abs(bound)):
                found.append(
                    f"parameter '{p.name}' sits at its {side} bound {bound:g}: the data do not "
                    "constrain it (or the bound is wrong); fix it or widen its bounds"
                )
    return found


#: Below this ratio of the smallest to the largest singular value of the column-scaled
#: Jacobian, the fit has a direction the data do not see at all (exact collinearity shows
#: as ~0 or the forward differences' noise; identified fits of the real studies stay above
#: 1.4e-4: docs/fitting.md).
RANK_TOLERANCE = 1e-6


def unseen_directions(problem: Problem, u_hat: np.ndarray) -> tuple[float, np.ndarray]:
    """How well the runs see every direction of the parameters at the optimum.

    Returns the smallest singular value of the column-scaled d log f / d u relative to the
    largest, and the unit vectors (rows) of the directions below :data:`RANK_TOLERANCE`:
    combinations of parameters that move the predictions at none of the runs.
    """
    _, jac = problem.jacobian(u_hat)
    jac = jac[0][np.isfinite(jac[0]).all(axis=1)]
    if 0 in jac.shape:  # every parameter fixed, or no finite prediction to judge by
        return 1.0, np.zeros((0, jac.shape[1]))
    norms = np.linalg.norm(jac, axis=0)
    scaled = jac / np.where(norms > 0, norms, 1.0)  # a parameter that moves nothing stays 0
    if not np.isfinite(scaled).all():
        return 1.0, np.zeros((0, jac.shape[1]))  # nothing to say about a broken Jacobian
    if scaled.shape[0] < scaled.shape[1]:  # fewer points than parameters: pad with zero rows
        scaled = np.vstack([scaled, np.zeros((scaled.shape[1] - scaled.shape[0], scaled.shape[1]))])
    # Thin SVD: (points, k) with k <= 16, cheap even at the 100,000 observations of a thinned
    # curve (the full one would build a points x points matrix).
    _, sv, vt = np.linalg.svd(scaled, full_matrices=False)
    ratio = sv / sv[0] if sv[0] > 0 else np.zeros_like(sv)
    return float(ratio[-1]), vt[ratio < RANK_TOLERANCE]


#: What collinearity_warnings says, and the advice unidentified() strips from it.
_NOT_IDENTIFIED = "are not identified by these runs"
_ADVICE = (
    ": the data cannot tell them apart, so their values come from the starting point; add runs "
    "that vary what they depend on, or fix some of them"
)


def collinearity_warnings(problem: Problem, u_hat: np.ndarray) -> list[str]:
    """Parameters the runs cannot tell apart, whatever the noise: the runs vary nothing that
    separates them (all one model size for a law with a size term, say), so their values are
    whatever the start grid chose, with or without a bootstrap."""
    _, unseen = unseen_directions(problem, u_hat)
    if not len(unseen):
        return []
    share = np.linalg.norm(unseen, axis=0)  # each parameter's part in the unseen directions
    names = [p.name for p, w in zip(problem.space.free, share, strict=True) if w > 0.3]
    constant = [v for v in problem.law.variables if np.ptp(problem.data[v]) == 0]
    why = f" (every point has the same {', '.join(constant)})" if constant else ""
    return [f"parameters {', '.join(names)} {_NOT_IDENTIFIED}{why}{_ADVICE}"]


def unidentified(warnings: list[str]) -> str | None:
    """What :func:`collinearity_warnings` said of a fit (its ``warnings``), without the advice:
    ``"parameters beta, E, B are not identified by these runs (every point has the same
    tokens)"``; None when it said nothing."""
    said = next((w for w in warnings if _NOT_IDENTIFIED in w), None)
    return None if said is None else said.removesuffix(_ADVICE)


def identification_warnings(
    names: list[str], samples: np.ndarray, estimate: np.ndarray
) -> list[str]:
    """Parameters whose bootstrap interval is too wide to mean much."""
    found: list[str] = []
    if not names:  # a law with no free linear parameter (e.g. every one fixed)
        return found
    lo, hi = np.nanquantile(samples, [0.025, 0.975], axis=0)
    for name, a, b, v in zip(names, lo, hi, estimate, strict=True):
        if a > 0 and b / a > WEAK_RATIO:
            found.append(
                f"parameter '{name}' is weakly identified: its 95% interval [{a:.4g}, {b:.4g}] "
                f"spans {b / a:.1f}x"
            )
        elif v != 0 and (b - a) > 2 * abs(v):
            found.append(
                f"parameter '{name}' is weakly identified: its 95% interval [{a:.4g}, {b:.4g}] "
                f"is wider than twice its value {v:.4g}"
            )
    return found


#: Up to this many runs, leaving each out is an exact refit; beyond, a one-step approximation.
EXACT_INFLUENCE_RUNS = 300


def leave_one_run_out_shifts(
    problem: Problem, u_hat: np.ndarray, *, exact: bool | None = None
) -> np.ndarray:
    """How much each nonlinear parameter moves when each run is left out: (runs, k).

    Exact refits (one per run, from the full-data optimum) for up to
    :data:`EXACT_INFLUENCE_RUNS` runs; beyond, one Gauss-Newton step from the optimum with the
    run's share of the gradient taken away (``H^-1 g_run``), the classic one-step approximation
    of leave-one-out influence (Cook & Weisberg 1982), which costs one pass over the data
    instead of a refit per run (tests/test_fit_influence.py checks it against exact refits).
    """
    k = problem.space.n_nonlinear
    groups = problem.groups
    exact = problem.n_groups <= EXACT_INFLUENCE_RUNS if exact is None else exact
    if exact:
        loo = refit_many(
            problem, u_hat, lambda idx: (groups[None, :] != idx[:, None]).astype(float),
            n=problem.n_groups,
        )  # fmt: skip
        return problem.natural(loo.u)[:, :k] - problem.natural(u_hat)[0, :k]
    f, jac = problem.jacobian(u_hat)
    r = problem.residuals(f)[0]
    jac = jac[0]
    bad = ~np.isfinite(r) | ~np.isfinite(jac).all(axis=-1)
    r, jac = np.where(bad, 0.0, r), np.where(bad[:, None], 0.0, jac)
    omega = np.minimum(1.0, problem.delta / np.maximum(np.abs(r), 1e-300))
    wo = problem.observation_weights(np.ones_like(r)) * omega * problem.loss_factor(r)
    hess = (jac * wo[:, None]).T @ jac
    per_point = (wo * r)[:, None] * jac  # each observation's share of the gradient
    per_run = np.zeros((problem.n_groups, jac.shape[1]))
    np.add.at(per_run, groups, per_point)
    step = np.linalg.lstsq(hess, per_run.T, rcond=None)[0].T  # H^-1 g_run, (runs, params)
    u_new = u_hat[0] + step
    out = np.empty((problem.n_groups, k))
    for i, p in enumerate(problem.space.nonlinear):
        out[:, i] = (np.exp(u_new[:, i]) - np.exp(u_hat[0, i])) if p.log_scale else step[:, i]
    return out


def influence_warnings(
    problem: Problem,
    u_hat: np.ndarray,
    boot_natural: np.ndarray,
    run_ids: list[str],
) -> list[str]:
    """Outlying runs (huge residuals) and influential runs (Cook's distance, leave-one-out).

    Cook's distance is computed on the nonlinear parameters (the exponents), with their
    covariance from the bootstrap: D_i = d_i' S^-1 d_i / k, where d_i is the change when run i
    is left out. Outliers are then dropped together and the change in the exponents reported:
    on Epoch's Chinchilla data, the five highest-loss runs move beta from ~0.37 to ~0.45.
    """
    found: list[str] = []
    k = problem.space.n_nonlinear
    nat_hat = problem.natural(u_hat)[0]
    if k == 0 or problem.n_groups < 4:
        return found
    cov = np.atleast_2d(np.cov(boot_natural[:, :k].T))
    se = np.sqrt(np.diag(cov))
    if not np.all(np.isfinite(cov)) or np.any(se <= 0):
        return found
    names = problem.space.names[:k]
    shift = leave_one_run_out_shifts(problem, u_hat)
    cook = np.einsum("gi,ij,gj->g", shift, np.linalg.pinv(cov), shift) / k
    flagged = np.flatnonzero(cook > COOK_THRESHOLD)
    if flagged.size:
        worst = flagged[np.argsort(-cook[flagged])][:5]
        listing = ", ".join(f"{run_ids[g]} (D={cook[g]:.2f})" for g in worst)
        found.append(
            f"{flagged.size} influential run(s) by leave-one-out Cook's distance > {COOK_THRESHOLD}: "
            f"{listing}; check them, or exclude them with --where"
        )
    r = problem.residuals(problem.model(u_hat))[0]
    scale = robust_sd(r)
    group_r = np.zeros(problem.n_groups)
    np.maximum.at(group_r, problem.groups, np.abs(np.nan_to_num(r)))
    outliers = np.flatnonzero(group_r > OUTLIER_SDS * scale) if scale > 0 else np.array([], int)
    if outliers.size:
        keep = (~np.isin(problem.groups, outliers)).astype(float)[None, :]
        without = levenberg_marquardt(problem, u_hat, keep, max_iter=200)
        moved = problem.natural(without.u)[0, :k]
        moves = ", ".join(
            f"{n} {a:.4g} -> {b:.4g} ({(b - a) / s:+.1f} SD)"
            for n, a, b, s in zip(names, nat_hat[:k], moved, se, strict=True)
        )
        listed = ", ".join(run_ids[g] for g in outliers[np.argsort(-group_r[outliers])][:8])
        sds = np.abs(moved - nat_hat[:k]) / se
        if np.any(sds > 0.5):
            found.append(
                f"{outliers.size} outlying run(s) with residuals over {OUTLIER_SDS:g} robust SDs "
                f"({listed}); without them: {moves}"
                + ("; the fit depends on them" if np.any(sds > 1) else "")
            )
    return found
