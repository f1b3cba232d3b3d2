"""Indicators (STRATEGY R2): vectorized, causal, computed once per asset over its whole history.

Every function takes one asset's bars, oldest first, and returns an array of the same length whose
value at index i depends only on bars 0..i (prefix invariance). Undefined values are NaN.

``indicator_block`` computes the same values for many assets at once from their bars laid end to
end, bit for bit: a market of hundreds of assets costs a few array passes, and the one recursion
(Wilder's average) steps through time once for all assets together (``ewm_mean``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

RSI_PERIOD = 14
ADV_WINDOW = 20
SURGE_WINDOW = 20
MIN_SCORE_BARS = 127  # R2.7: ROC_126 needs 127 bars


def sma(x: np.ndarray, n: int) -> np.ndarray:
    """R2.1: mean of the last n values including today; NaN for the first n-1."""
    x = np.asarray(x, dtype=np.float64)
    out = np.full(x.shape, np.nan)
    if len(x) >= n:
        out[n - 1:] = sliding_window_view(x, n).mean(axis=1)
    return out


def rsi_wilder(close: np.ndarray, period: int = RSI_PERIOD) -> np.ndarray:
    """R2.2: Wilder's RSI; the first average is the simple mean of the first `period` changes."""
    close = np.asarray(close, dtype=np.float64)
    out = np.full(close.shape, np.nan)
    if len(close) <= period:
        return out
    change = np.diff(close)
    gain, loss = np.maximum(change, 0.0), np.maximum(-change, 0.0)
    avg_gain = _wilder_average(gain, period)
    avg_loss = _wilder_average(loss, period)
    with np.errstate(divide="ignore", invalid="ignore"):
        rsi = 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)
    rsi[avg_loss == 0] = 100.0  # no losses in the window (R2.2)
    out[period:] = rsi
    return out


def _wilder_average(values: np.ndarray, period: int) -> np.ndarray:
    """Seed with the simple mean of the first `period` values, then avg = (prev*(p-1) + x)/p."""
    seeded = np.concatenate(([values[:period].mean()], values[period:]))
    return ewm_mean(seeded[:, None], _alpha_com(1.0 / period))[:, 0]


def _alpha_com(alpha: float) -> float:
    """The centre of mass pandas derives from ewm(alpha=...): its recursion uses 1/(1+com)."""
    return (1 - alpha) / alpha


def halflife_com(halflife: float) -> float:
    """The centre of mass pandas derives from ewm(halflife=...)."""
    decay = 1 - np.exp(np.log(0.5) / halflife)
    return float(1 / decay - 1)


def ewm_mean(columns: np.ndarray, com: float, chunk: int = 2048) -> np.ndarray:
    """pandas' ``DataFrame(columns).ewm(com=com, adjust=False).mean()``, bit for bit.

    pandas runs, per column, ``w = (f*w + a*x) / (f + a)`` with a = 1/(1+com), f = 1-a, keeps w
    when it already equals x (a constant run stays exact), starts at the first value that is not
    NaN and carries the weight of skipped NaNs (ignore_na=False). Here one Python step per row
    advances every column together, `chunk` columns at a time to bound the temporaries.
    (pandas 3 special-cases com == 1 after a NaN gap, pandas GH-66521; that case is not copied.)
    """
    out = np.array(columns, dtype=np.float64, order="C", copy=True)
    if out.ndim != 2:
        raise ValueError("ewm_mean needs a 2-D array (rows are time steps)")
    _ewm_in_place(out, com, chunk=chunk)
    return out


def _ewm_in_place(out: np.ndarray, com: float, chunk: int = 2048) -> None:
    alpha = 1.0 / (1.0 + com)
    for lo in range(0, out.shape[1], chunk):
        part = out[:, lo:lo + chunk]
        if len(part) > 1:
            if np.isnan(part).any():
                _ewm_with_gaps(part, alpha)
            else:
                _ewm_dense(part, alpha)


def _ewm_dense(m: np.ndarray, alpha: float) -> None:
    # In place, no NaN anywhere: the weight of the previous value is always 1 - alpha.
    old, denom = 1.0 - alpha, (1.0 - alpha) + alpha
    if m.shape[1] <= _FEW_COLUMNS:  # a numpy call per step costs more than Python floats
        for j in range(m.shape[1]):
            m[:, j] = _ewm_floats(m[:, j].tolist(), old, alpha, denom)
        return
    w = m[0].copy()
    a, b = np.empty_like(w), np.empty_like(w)
    mv = np.empty(w.shape, dtype=bool)
    for row in m[1:]:
        _ewm_step(w, row, old, alpha, denom, a, b, mv)
        row[...] = w


def _ewm_step(w: np.ndarray, x: np.ndarray, old: float, alpha: float, denom: float,
              a: np.ndarray, b: np.ndarray, mv: np.ndarray) -> None:
    """w <- (old*w + alpha*x) / denom where w != x (pandas keeps w when it equals x), in place;
    a, b and mv are scratch of w's shape."""
    np.multiply(w, old, out=a)
    np.multiply(x, alpha, out=b)
    np.add(a, b, out=a)
    np.divide(a, denom, out=a)
    np.not_equal(w, x, out=mv)
    np.copyto(w, a, where=mv)


_FEW_COLUMNS = 12


def _ewm_floats(values: list[float], old: float, alpha: float, denom: float) -> list[float]:
    # The same IEEE double operations as _ewm_dense, one column at a time.
    w = values[0]
    for t in range(1, len(values)):
        cur = values[t]
        if w != cur:
            w = (old * w + alpha * cur) / denom
        values[t] = w
    return values


def _ewm_with_gaps(m: np.ndarray, alpha: float) -> None:
    # In place, the general case: NaN before a column's first value and NaN gaps inside it.
    factor = 1.0 - alpha
    w = m[0].copy()
    old_wt = np.ones_like(w)
    for t in range(1, len(m)):
        cur = m[t]
        seen = cur == cur
        started = w == w
        old_wt = np.where(started, old_wt * factor, old_wt)
        with np.errstate(invalid="ignore"):
            moved = (old_wt * w + alpha * cur) / (old_wt + alpha)
        w = np.where(started & seen & (w != cur), moved, w)
        old_wt = np.where(started & seen, 1.0, old_wt)
        w = np.where(~started & seen, cur, w)
        cur[...] = w


def roc(close: np.ndarray, n: int) -> np.ndarray:
    """R2.3: close / close n bars ago - 1."""
    close = np.asarray(close, dtype=np.float64)
    out = np.full(close.shape, np.nan)
    if len(close) > n:
        out[n:] = close[n:] / close[:-n] - 1.0
    return out


def composite_momentum(close: np.ndarray) -> np.ndarray:
    """R2.4: M = 0.5*ROC_126 + 0.3*ROC_63 + 0.2*ROC_21."""
    return 0.5 * roc(close, 126) + 0.3 * roc(close, 63) + 0.2 * roc(close, 21)


def average_dollar_volume(close: np.ndarray, volume: np.ndarray, n: int = ADV_WINDOW) -> np.ndarray:
    """R2.5: mean of close*volume over the last n bars including today."""
    return sma(np.asarray(close, dtype=np.float64) * np.asarray(volume, dtype=np.float64), n)


def volume_surge_ratio(volume: np.ndarray, n: int = SURGE_WINDOW) -> np.ndarray:
    """R2.6: volume today / mean of the n bars before today; 0 mean -> +inf (volume>0) or NaN."""
    volume = np.asarray(volume, dtype=np.float64)
    out = np.full(volume.shape, np.nan)
    if len(volume) <= n:
        return out
    out[n:] = _surge_ratio(volume[n:], sliding_window_view(volume[:-1], n).mean(axis=1))
    return out


def _surge_ratio(today: np.ndarray, prior_mean: np.ndarray) -> np.ndarray:
    """Today's volume over the prior mean: inf after an all-zero window with volume, NaN without."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = today / prior_mean
    zero = prior_mean == 0
    ratio[zero & (today > 0)] = np.inf
    ratio[zero & (today <= 0)] = np.nan
    return ratio


@dataclass(frozen=True, slots=True)
class IndicatorSet:
    """All R2 indicators of one asset, aligned with its bars."""

    rsi14: np.ndarray
    momentum: np.ndarray
    adv20_usd: np.ndarray
    surge_ratio: np.ndarray

    @property
    def has_score(self) -> np.ndarray:
        """R2.7: at least 127 bars and a finite M."""
        ok = np.isfinite(self.momentum)
        ok[:MIN_SCORE_BARS - 1] = False
        return ok


def compute_indicators(close: np.ndarray, volume: np.ndarray) -> IndicatorSet:
    """Compute every R2 indicator for one asset's whole history."""
    return IndicatorSet(
        rsi14=rsi_wilder(close),
        momentum=composite_momentum(close),
        adv20_usd=average_dollar_volume(close, volume),
        surge_ratio=volume_surge_ratio(volume),
    )


def indicator_block(close: np.ndarray, volume: np.ndarray, starts: np.ndarray,
                    lengths: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """(momentum, adv20_usd, rsi14, surge_ratio) rows of many assets whose bars lie end to end.

    Asset j's bars are ``close[starts[j]:starts[j] + lengths[j]]`` (and volume's); each result
    row is laid out the same way and equals ``compute_indicators`` of that asset alone, bit for
    bit: the same numbers meet in the same operations. `out`, when given, is the (4, bars)
    array written; the windows are computed a group of assets at a time, in cache.
    """
    close = np.asarray(close, dtype=np.float64)
    volume = np.asarray(volume, dtype=np.float64)
    starts = np.asarray(starts, dtype=np.intp)
    lengths = np.asarray(lengths, dtype=np.intp)
    out = np.empty((4, len(close))) if out is None else out
    # The RSI first, with rows 0 and 1 as its gains/losses scratch (overwritten below): no
    # market-sized temporary is allocated and first touched (page faults cost like the work).
    scratch = out[:2].reshape(-1)  # a view of the two rows (a copy if `out` is not contiguous)
    _rsi_block(close, starts, lengths, RSI_PERIOD, out[2], scratch)
    ends = (starts + lengths).tolist()
    lo, first = 0, 0
    while lo < len(close):  # whole assets, about _GROUP_BARS bars together
        after = int(np.searchsorted(starts, lo + _GROUP_BARS, side="right"))
        hi = ends[after - 1]
        c, v = close[lo:hi], volume[lo:hi]
        group = (starts[first:after] - lo).tolist(), lengths[first:after].tolist()
        out[0, lo:hi] = (0.5 * _shifted_roc(c, group, 126) + 0.3 * _shifted_roc(c, group, 63)
                         + 0.2 * _shifted_roc(c, group, 21))
        out[1, lo:hi] = _window_mean_at_end(c * v, group, ADV_WINDOW)
        out[3, lo:hi] = _surge(v, group, SURGE_WINDOW)
        lo, first = hi, after
    return out


_GROUP_BARS = 1 << 16
Group = tuple[list[int], list[int]]  # the starts and lengths of the assets laid end to end


def set_first(out: np.ndarray, group: Group, n: int, value: float | bool) -> None:
    """`value` in each asset's first n entries (of the assets laid end to end in `out`)."""
    for start, length in zip(*group, strict=True):
        out[start:start + min(n, length)] = value


def _blank_first(out: np.ndarray, group: Group, n: int) -> None:
    """NaN in each asset's first n values: they would mix in the bars of the asset before."""
    set_first(out, group, n, np.nan)


def _shifted_roc(close: np.ndarray, group: Group, n: int) -> np.ndarray:
    out = np.full(close.shape, np.nan)
    if len(close) > n:
        out[n:] = close[n:] / close[:-n] - 1.0
    _blank_first(out, group, n)
    return out


def _window_means(x: np.ndarray, n: int) -> np.ndarray:
    """Mean of x[i:i+n] at each i, equal to ``sliding_window_view(x, n).mean(axis=1)``.

    That call (what sma makes on one asset) sums each window pairwise: eight running sums r_j
    over the blocks of eight, ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)), then the rest one by one.
    Neighbouring windows share those partial sums, so here each is one whole-array addition:
    the same additions in the same order, about 9 instead of 28 per window (n = 20).
    """
    m = len(x) - n + 1
    if m <= 0:
        return np.empty(0)
    if not 8 <= n <= 128:  # outside numpy's unrolled block: let numpy do it
        return sliding_window_view(x, n).mean(axis=1)
    whole = n - n % 8
    r = x[:m + 7].copy()  # r[i + j] is the running sum r_j of the window at i
    for i in range(8, whole, 8):
        r += x[i:i + m + 7]
    pairs = r[:-1] + r[1:]            # r0+r1 at i (r2+r3 at i+2, ...)
    quads = pairs[:-2] + pairs[2:]    # (r0+r1)+(r2+r3) at i, (r4+r5)+(r6+r7) at i+4
    total = quads[:m] + quads[4:4 + m]
    for i in range(whole, n):
        total += x[i:i + m]
    total /= n
    return total


def _window_mean_at_end(x: np.ndarray, group: Group, n: int) -> np.ndarray:
    out = np.full(x.shape, np.nan)
    if len(x) >= n:
        out[n - 1:] = _window_means(x, n)
    _blank_first(out, group, n - 1)
    return out


def _surge(volume: np.ndarray, group: Group, n: int) -> np.ndarray:
    out = np.full(volume.shape, np.nan)
    if len(volume) > n:
        out[n:] = _surge_ratio(volume[n:], _window_means(volume[:-1], n))
    _blank_first(out, group, n)
    return out


def _rsi_block(close: np.ndarray, starts: np.ndarray, lengths: np.ndarray, period: int,
               out: np.ndarray, moves: np.ndarray) -> None:
    """rsi_wilder of every asset end to end into `out`, _ASSETS_PER_PASS assets at a time.

    `moves` (2 x bars, flat) is scratch: the gains of bar p at [p], its losses at [bars + p].
    """
    total = len(close)
    for a in range(0, len(starts), _ASSETS_PER_PASS):
        part = slice(a, a + _ASSETS_PER_PASS)
        lo, n = int(starts[part][0]), int(lengths[part].sum())
        _rsi_part(close[lo:lo + n], starts[part] - lo, lengths[part], period, out[lo:lo + n],
                  moves, (lo, total + lo))


_ASSETS_PER_PASS = 1024  # one gains and one losses column each in the recursion


def _rsi_part(close: np.ndarray, starts: np.ndarray, lengths: np.ndarray, period: int,
              out: np.ndarray, moves: np.ndarray, at: tuple[int, int]) -> None:
    """The RSI of these assets into `out`; their gains and losses go to moves[at[0]:] and
    moves[at[1]:] (column k of the recursion is one asset's gains or losses)."""
    total = len(close)
    keep = lengths > period
    first = starts[keep] + period  # the first RSI of each asset: its bar number `period`
    if not len(first):
        out[:] = np.nan
        return
    if not np.isfinite(close).all():  # NaN gaps: the one-asset code handles them (never loaded)
        for lo, n in zip(starts.tolist(), lengths.tolist(), strict=True):
            out[lo:lo + n] = rsi_wilder(close[lo:lo + n], period)
        return
    gains, losses = moves[at[0]:at[0] + total], moves[at[1]:at[1] + total]
    gains[0] = 0.0  # (the change into an asset's first bar is never used)
    np.subtract(close[1:], close[:-1], out=gains[1:])
    np.negative(gains, out=losses)
    np.maximum(gains, 0.0, out=gains)
    np.maximum(losses, 0.0, out=losses)
    base = np.concatenate((first + at[0], first + at[1]))
    steps = np.tile(lengths[keep] - period, 2)  # averages per column, the seed included
    order = np.argsort(-steps, kind="stable")  # longest first: the running prefix narrows
    base, steps = base[order], steps[order]
    # Seeded like _wilder_average: the simple mean of the first `period` changes (one window
    # per row of a contiguous copy, reduced like the 1-D mean of that window).
    w = np.ascontiguousarray(sliding_window_view(moves, period)[base - period + 1]).mean(axis=1)
    moves[base] = w
    _wilder_steps(moves, base, steps, 1.0 / (1.0 + _alpha_com(1.0 / period)), w)
    # moves now holds each column's averages from its seed on (averages in place of moves)
    avg_gain, avg_loss = gains, losses
    rsi = out  # 100 - 100 / (1 + avg_gain / avg_loss), in place
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        np.divide(avg_gain, avg_loss, out=rsi)
        rsi += 1.0
        np.divide(100.0, rsi, out=rsi)
        np.subtract(100.0, rsi, out=rsi)
    rsi[avg_loss == 0] = 100.0  # no losses in the window (R2.2)
    _blank_first(rsi, (starts.tolist(), lengths.tolist()), period)  # all of a short history


def _wilder_steps(values: np.ndarray, base: np.ndarray, steps: np.ndarray, alpha: float,
                  w: np.ndarray) -> None:
    """_ewm_dense's step on columns that lie in `values` itself, in place: column k is
    values[base[k]:base[k] + steps[k]] (its seed already there, in w[k]), steps descending.

    Each time step gathers the running columns' values, advances them together and writes
    the averages back over them: nothing the size of the market is allocated.
    """
    old, denom = 1.0 - alpha, (1.0 - alpha) + alpha
    width = np.searchsorted(-steps, -np.arange(int(steps[0])), side="left")
    at, cur = base.copy(), np.empty_like(w)
    scaled, step = np.empty_like(w), np.empty_like(w)
    moved = np.empty(w.shape, dtype=bool)
    for k in width[1:].tolist():
        pos, prev, row, a, b, mv = at[:k], w[:k], cur[:k], scaled[:k], step[:k], moved[:k]
        pos += 1
        values.take(pos, out=row)
        _ewm_step(prev, row, old, alpha, denom, a, b, mv)
        values[pos] = prev
