"""Interpolated modified Kneser-Ney n-gram language model over symbol ids (numpy, vectorised).

The model is Chen & Goodman's (1998) interpolated modified Kneser-Ney, unpruned, for any order.
For a context ``h`` (the last ``k-1`` symbols) and symbol ``w``::

    p_k(w | h) = (c(hw) - D_k(c(hw))) / c(h•) + gamma_k(h) * p_{k-1}(w | h')     if c(h•) > 0
               = p_{k-1}(w | h')                                                otherwise
    gamma_k(h) = (D_k1 N1(h•) + D_k2 N2(h•) + D_k3+ N3+(h•)) / c(h•)
    p_0(w)     = 1 / K

where ``h'`` drops the oldest symbol of ``h``, ``c(h•) = sum_w c(hw)`` and ``Nr(h•)`` counts the
symbols that follow ``h`` exactly ``r`` (or ``r`` or more) times. At the top level ``c`` is the raw
count; at every lower level it is the continuation count ``N1+(•hw)``, the number of distinct
symbols seen just before ``hw``. The three discounts of each level come from that level's
count-of-counts ``n1..n4`` (of raw counts at the top, of continuation counts below)::

    Y = n1 / (n1 + 2 n2),  D1 = 1 - 2Y n2/n1,  D2 = 2 - 3Y n3/n2,  D3+ = 3 - 4Y n4/n3

A level whose estimate is undefined or outside ``0 < Dr <= r`` (tiny corpora) uses the fallback
discounts (0.5, 1.0, 1.5), as KenLM's ``--discount_fallback`` does.

**Sequences and boundaries.** ``fit`` takes one or more sequences (a 1-D array, a (B, T) array of
B rows, or a list of 1-D arrays); n-grams never cross from one sequence into the next. There are
no sentence markers. When a sequence is scored, the symbol at offset ``t`` has the
``min(t, order-1)`` symbols before it *in the same sequence* as its history, and is scored by
the model of order ``min(t+1, order)``: raw counts at that top level, continuation counts below.
So the first symbol of a sequence gets the unigram model, the second a bigram, and so on; this
is how an RNN whose state is reset at the start of the sequence sees it.

**How counting is vectorised.** All n-grams are identified by one rank per (level, start
position), built level by level by sorting the packed key ``(rank of the (k-1)-gram at i) * K +
s[i+k-1]`` (one argsort per order, no Python loop over n-grams). The sorted distinct keys of each
level form a trie keyed by (prefix id, last symbol): looking a k-gram up is a ``searchsorted`` of
its prefix's id times K plus its last symbol. Continuation counts ``N1+(•hw)`` are the number of
distinct (k+1)-grams whose suffix is ``hw``: one ``bincount`` of the suffix ids of the distinct
(k+1)-grams. Scoring walks the levels once for all positions at once and returns the
probabilities of every requested order from that one walk.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Sequence

import numpy as np

from rnnviz_lib.errors import RnnvizError

log = logging.getLogger(__name__)

FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)


def chen_goodman_discounts(coc) -> tuple[float, float, float] | None:
    """Modified-KN discounts (D1, D2, D3+) from count-of-counts ``coc = (n1, n2, n3, n4)``.

    Returns None where the estimate is undefined or outside ``0 < Dr <= r``.
    """
    n1, n2, n3, n4 = (float(v) for v in coc)
    if n1 <= 0 or n2 <= 0 or n3 <= 0:
        return None
    Y = n1 / (n1 + 2 * n2)
    D = (1 - 2 * Y * n2 / n1, 2 - 3 * Y * n3 / n2, 3 - 4 * Y * n4 / n3)
    if not all(math.isfinite(d) and 0 < d <= r for r, d in zip((1, 2, 3), D)):
        return None
    return D


def _as_sequences(sequences) -> tuple[list[np.ndarray], str, tuple]:
    """Normalise the accepted inputs to a list of 1-D int64 arrays; remember the input's form."""
    if isinstance(sequences, np.ndarray):
        if sequences.ndim == 1:
            return [sequences.astype(np.int64)], "1d", sequences.shape
        if sequences.ndim == 2:
            a = sequences.astype(np.int64)
            return list(a), "2d", sequences.shape
        raise RnnvizError(f"sequences must be 1-D or (B, T), got shape {sequences.shape}; reshape the symbol array")
    if isinstance(sequences, (list, tuple)):
        if len(sequences) and np.isscalar(sequences[0]):
            return [np.asarray(sequences, dtype=np.int64)], "1d", (len(sequences),)
        return [np.asarray(q, dtype=np.int64).ravel() for q in sequences], "list", ()
    raise RnnvizError(f"sequences must be an array or a list of arrays, got {type(sequences).__name__}")


def _concat(seqs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One flat array of all sequences, with each position's offset in its sequence and the number
    of symbols from it to its sequence's end (itself included). Returns (s, offs, rem, lengths)."""
    lengths = np.array([q.size for q in seqs], dtype=np.int64)
    n = int(lengths.sum())
    s = np.concatenate(seqs) if seqs else np.zeros(0, np.int64)
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    offs = np.arange(n, dtype=np.int64) - starts
    rem = np.repeat(lengths, lengths) - offs
    return s, offs, rem, lengths


def _flat_2d(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(s, offs, rem) of the rows of a (B, T) array, each row one sequence."""
    B, T = a.shape
    offs = np.tile(np.arange(T, dtype=np.int64), B)
    return a.astype(np.int64).ravel(), offs, T - offs


def _rank(key: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distinct sorted keys, the index of each key in them, their counts and one position of each."""
    perm = np.argsort(key)
    sk = key[perm]
    new = np.empty(sk.size, dtype=bool)
    new[:1] = True
    np.not_equal(sk[1:], sk[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    inv = np.empty(key.size, dtype=np.int64)
    inv[perm] = np.cumsum(new) - 1
    counts = np.diff(np.append(starts, sk.size))
    return sk[starts], inv, counts, perm[starts]


def _smallest_int(a: np.ndarray) -> np.ndarray:
    return a.astype(np.int32) if a.size == 0 or (a.max() < 2**31 and a.min() >= -(2**31)) else a.astype(np.int64)


class _Stats:
    """Counts of one level under one counting scheme (raw or continuation)."""

    __slots__ = ("count", "total", "gamma", "coc", "discounts", "estimated")

    def __init__(self, count: np.ndarray, prefix: np.ndarray, n_ctx: int, fixed):
        self.count = _smallest_int(count)  # (U_k,) per distinct k-gram
        pos = count > 0
        self.coc = np.bincount(np.minimum(count[pos], 5), minlength=6)[1:5].astype(np.int64)  # n1..n4
        D = tuple(fixed) if fixed is not None else chen_goodman_discounts(self.coc)
        self.estimated = D is not None and fixed is None
        self.discounts = np.array(D if D is not None else FALLBACK_DISCOUNTS, dtype=np.float64)
        self.total = _smallest_int(np.bincount(prefix, weights=count, minlength=n_ctx).round().astype(np.int64))
        d_of = np.concatenate([[0.0], self.discounts])[np.minimum(count, 3)]  # D(c), D(0) = 0
        self.gamma = np.bincount(prefix, weights=d_of, minlength=n_ctx)  # (U_{k-1},) float64

    @property
    def nbytes(self) -> int:
        return int(self.count.nbytes + self.total.nbytes + self.gamma.nbytes)


class KneserNeyLM:
    """Interpolated modified Kneser-Ney n-gram model (Chen & Goodman), unpruned.

    Parameters
    ----------
    order : int
        Largest n-gram order (the paper's Table 2 column ``n`` is order ``n + 1``). Lower orders
        can be scored from the same fitted model (``order=`` of the scoring methods).
    vocab_size : int or None
        K; symbols are ids ``0..K-1``. None: one more than the largest id seen by ``fit``.
    discounts : tuple of 3 floats or None
        Fixed (D1, D2, D3+) for every level instead of Chen & Goodman's estimates.
    unigram_discount : float or None
        A fixed discount for the continuation unigram only (None: as the other levels). With
        ``discounts=(d, d, d)`` and ``unigram_discount=0`` the model is plain interpolated
        Kneser-Ney with one absolute discount and an unsmoothed continuation unigram, the form
        ``nltk.lm.KneserNeyInterpolated`` computes (``tests/test_ngram.py`` checks the two agree).

    Attributes
    ----------
    K_ : int
    keys_ : list of ndarray
        ``keys_[k-1]`` (U_k,): sorted distinct k-grams as ``prefix_id * K + last_symbol``; a
        k-gram's id is its index here, its prefix's id indexes level k-1 (level 0: the empty gram).
    raw_, cont_ : list of _Stats
        Raw counts and continuation counts N1+(•hw) (``cont_`` has one level fewer than
        ``raw_``: the top level has no continuation counts).
    discounts_raw_, discounts_cont_ : ndarray, shape (order, 3)
        (D1, D2, D3+) of each level (row k-1 is level k); ``discounts_cont_[-1]`` is nan.
    count_of_counts_raw_, count_of_counts_cont_ : ndarray, shape (order, 4)
        n1..n4 of each level.
    n_train_ : int
        Symbols seen by ``fit``.
    fit_seconds_ : list of float
        Time spent counting each level (level k's continuation counts are made at level k+1).
    """

    def __init__(self, order: int = 3, vocab_size: int | None = None, discounts: Sequence[float] | None = None,
                 unigram_discount: float | None = None):
        self.order = order
        self.vocab_size = vocab_size
        self.discounts = discounts
        self.unigram_discount = unigram_discount

    # ------------------------------------------------------------------------------------
    def fit(self, sequences) -> "KneserNeyLM":
        """Count all n-grams up to ``order`` in ``sequences`` (ids in 0..K-1); returns self."""
        N = int(self.order)
        if N < 1:
            raise RnnvizError(f"n-gram order must be at least 1 (got {self.order}); pass order >= 1")
        if self.discounts is not None and len(self.discounts) != 3:
            raise RnnvizError("discounts must be three numbers (D1, D2, D3+) or None for Chen & Goodman's estimates")
        seqs, _, _ = _as_sequences(sequences)
        s, _, rem, _ = _concat(seqs)
        if s.size == 0:
            raise RnnvizError("cannot fit an n-gram model to no symbols; pass a non-empty training sequence")
        if s.min() < 0:
            raise RnnvizError("symbol ids must be non-negative; encode the text with Corpus.encode first")
        K = int(self.vocab_size) if self.vocab_size is not None else int(s.max()) + 1
        if s.max() >= K:
            raise RnnvizError(f"symbol id {int(s.max())} is outside vocab_size {K}; pass a larger vocab_size")
        fixed = None if self.discounts is None else tuple(float(d) for d in self.discounts)

        self.K_ = K
        self.n_train_ = int(s.size)
        self.keys_, self.raw_, self.cont_ = [], [], []
        prev_ids = np.zeros(s.size, dtype=np.int64)  # id of the (k-1)-gram starting at each position
        n_prev = 1  # number of distinct (k-1)-grams; level 0 holds only the empty gram
        prev_prefix = None
        self.fit_seconds_ = []
        for k in range(1, N + 1):
            t0 = time.perf_counter()
            pos = np.flatnonzero(rem >= k)  # start positions whose k-gram stays inside its sequence
            if pos.size == 0:
                raise RnnvizError(
                    f"no training sequence is {k} symbols long, so order {N} cannot be fitted; "
                    "use a lower order or longer sequences"
                )
            key = prev_ids[pos] * K + s[pos + k - 1]
            keys, inv, counts, first = _rank(key)
            if k >= 2:
                # N1+(•g) for each (k-1)-gram g: distinct k-grams whose suffix (starting one later) is g
                suffix = prev_ids[pos[first] + 1]
                cont = np.bincount(suffix, minlength=n_prev)
                uni = (float(self.unigram_discount),) * 3 if k == 2 and self.unigram_discount is not None else fixed
                self.cont_.append(_Stats(cont, prev_prefix, self.raw_[-1].total.size, uni))
            prefix = keys // K
            self.keys_.append(keys.astype(np.int32) if keys[-1] < 2**31 else keys)
            self.raw_.append(_Stats(counts, prefix, n_prev, fixed))
            ids = np.full(s.size, -1, dtype=np.int64)
            ids[pos] = inv
            prev_ids, n_prev, prev_prefix = ids, keys.size, prefix
            self.fit_seconds_.append(time.perf_counter() - t0)
            log.debug("order %d: %d distinct n-grams", k, keys.size)
        self.discounts_raw_ = np.stack([st.discounts for st in self.raw_])
        self.discounts_cont_ = np.stack([st.discounts for st in self.cont_] + [np.full(3, np.nan)])
        self.count_of_counts_raw_ = np.stack([st.coc for st in self.raw_])
        self.count_of_counts_cont_ = np.stack([st.coc for st in self.cont_] + [np.zeros(4, np.int64)])
        return self

    # ------------------------------------------------------------------------------------
    def _check(self, order) -> int:
        if not hasattr(self, "keys_"):
            raise RnnvizError("this n-gram model is not fitted yet; call fit(symbols) first")
        n = self.order if order is None else int(order)
        if not 1 <= n <= self.order:
            raise RnnvizError(f"order {n} is outside 1..{self.order}, the orders this model was fitted to; refit with a higher order")
        return n

    def n_ngrams(self, order: int | None = None) -> list[int]:
        """Distinct k-grams for k = 1..order."""
        n = self._check(order)
        return [int(k.size) for k in self.keys_[:n]]

    def nbytes(self, order: int | None = None) -> int:
        """Bytes of the arrays a model of ``order`` uses (its n-gram tables and context stats)."""
        n = self._check(order)
        b = sum(self.keys_[k].nbytes + self.raw_[k].nbytes for k in range(n))
        return int(b + sum(self.cont_[k].nbytes for k in range(n - 1)))

    def _lookup(self, k: int, prefix_ids: np.ndarray, sym: np.ndarray) -> np.ndarray:
        """Ids at level k of the k-grams (prefix id at level k-1, last symbol); -1 where unseen."""
        keys = self.keys_[k - 1]
        out = np.full(prefix_ids.shape, -1, dtype=np.int64)
        ok = prefix_ids >= 0
        q = prefix_ids[ok] * self.K_ + sym[ok]
        idx = np.searchsorted(keys, q)
        idx_c = np.minimum(idx, keys.size - 1)
        hit = (idx < keys.size) & (keys[idx_c] == q)
        sel = np.flatnonzero(ok)
        out[sel[hit]] = idx_c[hit]
        return out

    def _score_flat(self, s: np.ndarray, offs: np.ndarray, rem: np.ndarray, orders: Sequence[int]) -> dict:
        """Probability of each symbol of the flat array ``s`` given its in-sequence history, for every
        order in ``orders``; returns {order: (n,) float64}."""
        if s.size and (s.min() < 0 or s.max() >= self.K_):
            raise RnnvizError(f"symbol ids must lie in 0..{self.K_ - 1} (the fitted vocabulary); re-encode the input")
        orders = sorted(set(int(o) for o in orders))
        top_needed = max(orders)
        n = s.size
        out = {o: np.empty(n, dtype=np.float64) for o in orders}
        p_lower = np.full(n, 1.0 / self.K_)  # level-0 distribution: uniform
        prev_f = np.zeros(n, dtype=np.int64)  # id of the (k-1)-gram starting at each position
        for k in range(1, top_needed + 1):
            f = np.full(n, -1, dtype=np.int64)
            st = np.flatnonzero(rem >= k)
            f[st] = self._lookup(k, prev_f[st], s[st + k - 1])  # id of the k-gram starting at st
            j = np.flatnonzero(offs >= k - 1)  # targets with at least k-1 symbols of history
            i = j - (k - 1)
            ctx, ng, pl = prev_f[i], f[i], p_lower[j]
            schemes = [("raw", self.raw_[k - 1])] + ([("cont", self.cont_[k - 1])] if k < top_needed else [])
            for name, stats in schemes:
                tot = np.where(ctx >= 0, stats.total[np.maximum(ctx, 0)], 0).astype(np.float64)
                gam = np.where(ctx >= 0, stats.gamma[np.maximum(ctx, 0)], 0.0)
                c = np.where(ng >= 0, stats.count[np.maximum(ng, 0)], 0)
                d = np.concatenate([[0.0], stats.discounts])[np.minimum(c, 3)]
                seen = tot > 0
                p = pl.copy()
                p[seen] = (c[seen] - d[seen] + gam[seen] * pl[seen]) / tot[seen]
                if name == "raw":
                    for o in orders:
                        if o == k:
                            out[o][j] = p
                        elif o > k:
                            short = offs[j] == k - 1  # history too short for a higher order
                            out[o][j[short]] = p[short]
                else:
                    p_lower[j] = p
            prev_f = f
        return out

    # ------------------------------------------------------------------------------------
    def prob_orders(self, sequences, orders: Sequence[int]) -> dict:
        """Probability of every symbol given its history, for several orders at once.

        Parameters
        ----------
        sequences : (T,) or (B, T) int array, or list of 1-D arrays
        orders : iterable of int, each in 1..order

        Returns
        -------
        dict order -> array of the input's form ((T,), (B, T) or list), float64
        """
        for o in orders:
            self._check(o)
        seqs, form, shape = _as_sequences(sequences)
        s, offs, rem, lengths = _concat(seqs)
        flat = self._score_flat(s, offs, rem, orders)
        res = {}
        for o, p in flat.items():
            if form == "1d":
                res[o] = p
            elif form == "2d":
                res[o] = p.reshape(shape)
            else:
                res[o] = np.split(p, np.cumsum(lengths)[:-1])
        return res

    def log_prob(self, sequences, order: int | None = None):
        """Natural log-probability of every symbol given its in-sequence history.

        Parameters
        ----------
        sequences : (T,) or (B, T) int array, or list of 1-D arrays
        order : int or None
            Score as the model of this order (default: the fitted order).

        Returns
        -------
        Same form as ``sequences``, float64: entry t is log p(s[t] | s[max(0, t-order+1):t]).
        """
        n = self._check(order)
        p = self.prob_orders(sequences, [n])[n]
        return [np.log(q) for q in p] if isinstance(p, list) else np.log(p)

    def predict_proba(self, contexts, order: int | None = None) -> np.ndarray:
        """Distribution of the next symbol after each context.

        Parameters
        ----------
        contexts : (M, c) int array, or list of M 1-D arrays (any lengths, empty allowed)
            Only the last ``order - 1`` symbols of each context are used.

        Returns
        -------
        ndarray, shape (M, K), float64; each row sums to 1.
        """
        n = self._check(order)
        if isinstance(contexts, np.ndarray) and contexts.ndim == 2:
            ctx_list = list(contexts.astype(np.int64))
        else:
            ctx_list = [np.asarray(c, dtype=np.int64).ravel() for c in contexts]
        K = self.K_
        M = len(ctx_list)
        out = np.zeros((M, K))
        hist = [c[max(len(c) - (n - 1), 0):] if n > 1 else c[:0] for c in ctx_list]
        lens = np.array([h.size for h in hist], dtype=np.int64)
        for L in np.unique(lens):  # one batch per history length: rows (history, w) for every w
            rows = np.flatnonzero(lens == L)
            H = np.stack([hist[r] for r in rows]) if L else np.zeros((rows.size, 0), np.int64)
            seq = np.concatenate([np.repeat(H, K, axis=0), np.tile(np.arange(K), rows.size)[:, None]], axis=1)
            s, offs, rem = _flat_2d(seq)
            p = self._score_flat(s, offs, rem, [n])[n]
            out[rows] = p.reshape(rows.size, K, L + 1)[:, :, -1]
        return out
