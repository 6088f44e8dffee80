"""Stratified bootstrap resampling with percentile 95% confidence intervals.

Method (METHODS.md §5; Efron & Tibshirani, *An Introduction to the Bootstrap*,
1993, ch. 13): draw ``n_resamples`` (default B = 2000) resamples of the subjects
with replacement, *within each stratum* when ``strata`` is given (usually the
outcome class, so every resample keeps the observed class sizes and a
statistic such as the AUC is always defined), evaluate the statistic on each
and take the 2.5th and 97.5th percentiles (numpy's default linear
interpolation) as the 95% CI. The point estimate is the statistic on the
original data, never the bootstrap mean.

Paired comparisons (:func:`paired_bootstrap_difference`) evaluate both
statistics on the *same* resamples, so the CI of the difference accounts for
the correlation between two models scored on the same subjects.

Resampling is reproducible: a fixed ``seed`` feeds one
:class:`numpy.random.Generator`, and the indices depend only on
``(n, strata, n_resamples, seed)``.

A statistic can be *vectorised*: it then receives every array indexed by an
index matrix of shape ``(b, n)`` (so each array gains a leading resample axis)
and must return ``b`` values (or a ``(b, k)`` array), which avoids a Python
loop over 2000 resamples. Resamples are processed in chunks of bounded size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Final

import numpy as np
from numpy.typing import ArrayLike

from cardiolens.errors import UsageError
from cardiolens.stats.estimate import Estimate

DEFAULT_RESAMPLES: Final[int] = 2000
CONFIDENCE: Final[float] = 0.95
# Bound on the elements of one chunk of the index matrix (rows x subjects), so a
# vectorised statistic on a large cohort never materialises all B x n at once.
_MAX_CHUNK_ELEMENTS: Final[int] = 1_000_000

Statistic = Callable[..., ArrayLike]


def _strata_codes(strata: ArrayLike | None, n: int) -> np.ndarray | None:
    if strata is None:
        return None
    labels = np.asarray(strata)
    if labels.ndim != 1 or labels.shape[0] != n:
        raise UsageError(f"strata must be a 1-D array of length {n} (one label per subject), got shape {labels.shape}")
    _, codes = np.unique(labels, return_inverse=True)
    return codes.reshape(-1)


def _check_resampling(n: int, n_resamples: int) -> None:
    if n < 1:
        raise UsageError("cannot bootstrap an empty sample (0 subjects)")
    if int(n_resamples) != n_resamples or n_resamples < 1:
        raise UsageError(f"n_resamples must be a positive integer, got {n_resamples!r}")


def iter_bootstrap_indices(
    n: int,
    *,
    strata: ArrayLike | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Iterator[np.ndarray]:
    """Yield chunks of bootstrap index rows, shape ``(b, n)``, ``b`` summing to ``n_resamples``.

    With ``strata``, column ``j`` of every row holds a subject drawn (with
    replacement) from the stratum of subject ``j``, so each resample keeps the
    stratum sizes. The chunking depends on ``n`` only, so the indices are a
    function of ``(n, strata, n_resamples, seed)``.
    """
    _check_resampling(n, n_resamples)
    codes = _strata_codes(strata, n)
    rng = np.random.default_rng(seed)
    groups = [np.arange(n)] if codes is None else [np.flatnonzero(codes == c) for c in range(int(codes.max()) + 1)]
    rows_per_chunk = max(1, _MAX_CHUNK_ELEMENTS // n)
    done = 0
    while done < n_resamples:
        rows = min(rows_per_chunk, n_resamples - done)
        chunk = np.empty((rows, n), dtype=np.intp)
        for members in groups:
            chunk[:, members] = members[rng.integers(0, members.size, size=(rows, members.size))]
        yield chunk
        done += rows


def bootstrap_indices(
    n: int,
    *,
    strata: ArrayLike | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> np.ndarray:
    """All bootstrap index rows, shape ``(n_resamples, n)`` (see :func:`iter_bootstrap_indices`)."""
    return np.concatenate(list(iter_bootstrap_indices(n, strata=strata, n_resamples=n_resamples, seed=seed)))


def _as_arrays(arrays: Sequence[ArrayLike]) -> tuple[list[np.ndarray], int]:
    if not arrays:
        raise UsageError("bootstrap needs at least one data array")
    converted = [np.asarray(a) for a in arrays]
    for a in converted:
        if a.ndim == 0:
            raise UsageError("bootstrap data arrays must have one row per subject, got a scalar")
    n = converted[0].shape[0]
    if n == 0:
        raise UsageError("cannot bootstrap an empty sample (0 subjects)")
    lengths = {a.shape[0] for a in converted}
    if len(lengths) != 1:
        raise UsageError(f"bootstrap data arrays must have the same number of subjects, got lengths {sorted(lengths)}")
    return converted, n


def _evaluate(statistic: Statistic, arrays: list[np.ndarray], index: np.ndarray, vectorized: bool) -> np.ndarray:
    """Statistic on each row of ``index``; shape ``(rows,)`` or ``(rows, k)``."""
    if vectorized:
        values = np.asarray(statistic(*(a[index] for a in arrays)), dtype=float)
        if values.shape[:1] != (index.shape[0],):
            raise UsageError(
                f"a vectorised statistic must return one value per resample ({index.shape[0]}), "
                f"got shape {values.shape}"
            )
        return values
    return np.asarray([np.asarray(statistic(*(a[row] for a in arrays)), dtype=float) for row in index])


def _point_value(statistic: Statistic, arrays: list[np.ndarray], vectorized: bool) -> np.ndarray:
    n = arrays[0].shape[0]
    return _evaluate(statistic, arrays, np.arange(n)[None, :], vectorized)[0]


def bootstrap_replicates(
    statistic: Statistic,
    *arrays: ArrayLike,
    strata: ArrayLike | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    vectorized: bool = False,
) -> np.ndarray:
    """The statistic on each bootstrap resample: shape ``(n_resamples,)`` or ``(n_resamples, k)``.

    Args:
        statistic: ``statistic(*arrays) -> float`` (or a length-``k`` array);
            with ``vectorized=True`` it receives arrays with a leading resample
            axis and returns one value (or row) per resample.
        arrays: data, one row per subject (all resampled with the same indices).
        strata: one label per subject; resampling is done within each label.
        n_resamples: number of resamples B.
        seed: seed of the :class:`numpy.random.Generator`.
        vectorized: see ``statistic``.
    """
    data, n = _as_arrays(arrays)
    chunks = [
        _evaluate(statistic, data, index, vectorized)
        for index in iter_bootstrap_indices(n, strata=strata, n_resamples=n_resamples, seed=seed)
    ]
    return np.concatenate(chunks)


def percentile_ci(
    replicates: ArrayLike, *, confidence: float = CONFIDENCE
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Percentile CI over the resample axis (axis 0), ignoring undefined (non-finite) replicates.

    Returns ``(low, high, n_undefined)``; each has the shape of one replicate.
    ``low``/``high`` are NaN where no replicate is finite.
    """
    if not 0.0 < confidence < 1.0:
        raise UsageError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    values = np.asarray(replicates, dtype=float)
    finite = np.isfinite(values)
    tail = (1.0 - confidence) / 2.0 * 100.0
    flat = values.reshape(values.shape[0], -1)
    bounds = np.full((2, flat.shape[1]), np.nan)
    for j in range(flat.shape[1]):  # column by column: each may drop different undefined replicates
        column = flat[:, j][np.isfinite(flat[:, j])]
        if column.size:
            bounds[:, j] = np.percentile(column, [tail, 100.0 - tail])
    low, high = (b.reshape(values.shape[1:]) for b in bounds)
    return np.asarray(low), np.asarray(high), (~finite).sum(axis=0)


def method_label(n_resamples: int, stratified: bool, n_undefined: int = 0) -> str:
    """The ``Estimate.method`` text for a bootstrap percentile CI."""
    kind = "stratified resamples" if stratified else "resamples"
    text = f"bootstrap percentile, {n_resamples} {kind}"
    if n_undefined:
        text += f" ({n_undefined} undefined resamples dropped)"
    return text


def estimate_from_replicates(
    value: float, replicates: np.ndarray, *, n: int, n_resamples: int, stratified: bool
) -> Estimate:
    """An :class:`Estimate` from a point value and its 1-D bootstrap replicates (percentile 95% CI)."""
    low, high, undefined = percentile_ci(replicates)
    n_undefined = int(undefined)
    if not np.isfinite(low) or not np.isfinite(value):
        return Estimate(
            float(value), None, None, method_label(n_resamples, stratified, n_undefined) + ", CI undefined", n
        )
    return Estimate(float(value), float(low), float(high), method_label(n_resamples, stratified, n_undefined), n)


def bootstrap_ci(
    statistic: Statistic,
    *arrays: ArrayLike,
    strata: ArrayLike | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    vectorized: bool = False,
) -> Estimate:
    """Point estimate and bootstrap percentile 95% CI of a scalar statistic.

    The value is ``statistic(*arrays)`` on the original data; the CI is the
    2.5th–97.5th percentile of the statistic over ``n_resamples`` resamples
    (stratified by ``strata`` when given). Resamples where the statistic is
    undefined (NaN/Inf) are dropped and counted in ``Estimate.method``; if none
    is defined the CI is None. See :func:`bootstrap_replicates` for the arguments.

    Example:
        >>> bootstrap_ci(np.mean, np.arange(10.0)).value
        4.5
    """
    data, n = _as_arrays(arrays)
    value = _point_value(statistic, data, vectorized)
    if value.ndim != 0:
        raise UsageError(f"bootstrap_ci needs a scalar statistic, got shape {value.shape}")
    replicates = bootstrap_replicates(
        statistic, *data, strata=strata, n_resamples=n_resamples, seed=seed, vectorized=vectorized
    )
    return estimate_from_replicates(
        float(value), replicates, n=n, n_resamples=n_resamples, stratified=strata is not None
    )


def paired_bootstrap_difference(
    statistic: Statistic,
    arrays_a: Sequence[ArrayLike],
    arrays_b: Sequence[ArrayLike],
    *,
    strata: ArrayLike | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    vectorized: bool = False,
) -> Estimate:
    """Difference ``statistic(*arrays_a) - statistic(*arrays_b)`` with a paired bootstrap 95% CI.

    Both sets of arrays describe the same subjects (row ``i`` is subject ``i``
    in each) and are resampled with the same indices, e.g. the AUC difference
    of two models: ``paired_bootstrap_difference(auc, (y, score_a), (y, score_b), strata=y)``.
    """
    data_a, n_a = _as_arrays(arrays_a)
    data_b, n_b = _as_arrays(arrays_b)
    if n_a != n_b:
        raise UsageError(f"paired bootstrap needs the same subjects in both arrays, got {n_a} and {n_b} rows")
    k = len(data_a)

    def difference(*arrays: np.ndarray) -> np.ndarray:
        return np.asarray(statistic(*arrays[:k]), dtype=float) - np.asarray(statistic(*arrays[k:]), dtype=float)

    return bootstrap_ci(
        difference, *data_a, *data_b, strata=strata, n_resamples=n_resamples, seed=seed, vectorized=vectorized
    )
