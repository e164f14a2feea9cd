"""Per-symbol text features (Figure 2's "what a cell might track"), pure functions of the bytes.

Every feature of symbol ``t`` is the state *after reading* byte ``t``, which is what a cell
at step ``t`` can know: an opening ``"`` is already inside the quotes, the closing one is
outside again; the ``*`` of ``/*`` starts a comment, its ``/`` is not yet in one.

========================  ==========  ===================================================
name                      kind        value after reading byte t
========================  ==========  ===================================================
``line_position``         continuous  bytes since the last ``\\n`` (0 for a line's first byte)
``line_end_next``         binary      the line ends right after t (next byte ``\\n``, or the
                                      ``\\r`` of a CRLF); the ``\\r`` itself is not counted
``in_quotes``             binary      inside a double-quoted string
``bracket_depth``         continuous  nesting depth of ``(`` and ``[``
``brace_depth``           continuous  nesting depth of ``{``
``in_comment``            binary      inside a C comment (``/* */`` or ``//``); C only
``in_if_body``            binary      inside the brace-matched body of an ``if``; C only
========================  ==========  ===================================================

Two readings of the bytes (``lang``): ``"c"`` runs a small C lexer, so brackets and quotes in
comments, strings and character literals do not count, ``\\"`` does not end a string and a
string or character literal ends at an unescaped newline (error recovery). ``"prose"``
toggles quotes on every ``"``, and a blank line (only spaces/``\\r``) closes quotes and
brackets, so a paragraph that leaves a quote open (as novels do for quotations that run on)
does not shift the rest of the text. Unmatched closers never drive a depth below 0.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from rnnviz_lib.errors import RnnvizError

LANGS = ("prose", "c")
BINARY, CONTINUOUS = "binary", "continuous"

# name -> (kind, languages it is defined for, one-line description)
FEATURES = {
    "line_position": (CONTINUOUS, LANGS, "position in the line (bytes since the last newline)"),
    "line_end_next": (BINARY, LANGS, "the next symbol ends the line (newline, or the CR of a CRLF)"),
    "in_quotes": (BINARY, LANGS, "inside double quotes"),
    "bracket_depth": (CONTINUOUS, LANGS, "nesting depth of ( and ["),
    "brace_depth": (CONTINUOUS, LANGS, "nesting depth of {"),
    "in_comment": (BINARY, ("c",), "inside a C comment (/* */ or //)"),
    "in_if_body": (BINARY, ("c",), "inside the brace-matched body of an if statement"),
}

_IDENT = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_SPACE = frozenset(b" \t\r\n\f\v")


@dataclasses.dataclass(frozen=True)
class Feature:
    """One feature over a text.

    Attributes
    ----------
    name, kind, description : str
    values : ndarray, shape (N,), float32
        One value per byte (0/1 for binary features).
    """

    name: str
    kind: str
    description: str
    values: np.ndarray


def _as_bytes(text) -> bytes:
    if isinstance(text, str):
        return text.encode("utf-8")
    if isinstance(text, np.ndarray):
        return text.astype(np.uint8).tobytes()
    return bytes(text)


# ----------------------------------------------------------------------------------------
# Line features (both languages)
# ----------------------------------------------------------------------------------------
def line_position(text) -> np.ndarray:
    """(N,) bytes since the last ``\\n``; the ``\\n`` itself is the last byte of its line."""
    b = np.frombuffer(_as_bytes(text), dtype=np.uint8)
    n = b.size
    idx = np.arange(n)
    nl = b == 10
    # start of the line of byte t = 1 + index of the last newline strictly before t
    prev_nl = np.where(nl, idx, -1)
    prev_nl = np.maximum.accumulate(np.concatenate([[-1], prev_nl[:-1]])) if n else prev_nl
    return (idx - (prev_nl + 1)).astype(np.float32)


def line_end_next(text) -> np.ndarray:
    """(N,) 1 where the line ends right after byte t: the next byte is ``\\n`` (and t is not the
    ``\\r`` of a CRLF) or the next two are ``\\r\\n``."""
    b = np.frombuffer(_as_bytes(text), dtype=np.uint8)
    out = np.zeros(b.size, dtype=np.float32)
    if b.size < 2:
        return out
    nxt, cur = b[1:], b[:-1]
    crlf = np.zeros(b.size - 1, dtype=bool)
    crlf[:-1] = (b[1:-1] == 13) & (b[2:] == 10)
    out[:-1] = ((nxt == 10) & (cur != 13)) | crlf
    return out


# ----------------------------------------------------------------------------------------
# Quotes, brackets, comments, if bodies
# ----------------------------------------------------------------------------------------
def _prose_scan(b: bytes) -> dict[str, np.ndarray]:
    n = len(b)
    quotes = np.zeros(n, dtype=np.float32)
    paren = np.zeros(n, dtype=np.float32)
    brace = np.zeros(n, dtype=np.float32)
    q = p = c = 0
    line_has_text = False
    for t, ch in enumerate(b):
        if ch == 10:  # \n
            if not line_has_text:  # a blank line closes everything left open
                q = p = c = 0
            line_has_text = False
        elif ch not in _SPACE:
            line_has_text = True
            if ch == 34:  # "
                q ^= 1
            elif ch in (40, 91):  # ( [
                p += 1
            elif ch in (41, 93):  # ) ]
                p = max(0, p - 1)
            elif ch == 123:
                c += 1
            elif ch == 125:
                c = max(0, c - 1)
        quotes[t], paren[t], brace[t] = q, p, c
    return {"in_quotes": quotes, "bracket_depth": paren, "brace_depth": brace}


_NORMAL, _STRING, _CHAR, _LINE, _BLOCK = range(5)


def _c_scan(b: bytes) -> dict[str, np.ndarray]:
    """One pass of a small C lexer; see the module docstring for the rules."""
    n = len(b)
    quotes = np.zeros(n, dtype=np.float32)
    comment = np.zeros(n, dtype=np.float32)
    paren = np.zeros(n, dtype=np.float32)
    brace = np.zeros(n, dtype=np.float32)
    in_if = np.zeros(n, dtype=np.float32)
    state = _NORMAL
    escaped = False
    slash = False  # the previous byte was a '/' read in code: '/' or '*' now opens a comment
    block_open_at = -1  # index of the '*' that opened the current block comment
    p = c = 0
    ident = bytearray()
    prev_sig = 0  # last significant code byte before the current identifier ('#' marks #if)
    pending_if = False  # read `if`, waiting for its '('
    cond_depth = -1  # while inside an if condition: the paren depth outside it
    await_brace = False  # the condition closed: a '{' next opens the if body
    if_levels: list[int] = []  # brace depths opened by if bodies
    for t, ch in enumerate(b):
        if state == _NORMAL:
            if ch in _IDENT:
                ident.append(ch)
                slash = False
            else:
                if ident:  # an identifier ends here
                    if ident == b"if" and prev_sig != 35:
                        pending_if = True
                    else:
                        pending_if = await_brace = False
                    prev_sig = ident[-1]
                    ident.clear()
                if ch in _SPACE:
                    slash = False
                elif slash and ch == 47:  # //
                    state, slash = _LINE, False
                elif slash and ch == 42:  # /*
                    state, slash, block_open_at = _BLOCK, False, t
                elif ch == 47:
                    slash = True  # a comment may start: the if bookkeeping waits
                else:
                    slash = False
                    if ch == 34:
                        state, escaped = _STRING, False
                    elif ch == 39:
                        state, escaped = _CHAR, False
                    if ch == 40 and pending_if:
                        cond_depth = p
                    if ch in (40, 91):
                        p += 1
                    elif ch in (41, 93):
                        p = max(0, p - 1)
                    if ch == 123:
                        c += 1
                        if await_brace:
                            if_levels.append(c)
                    elif ch == 125:
                        if if_levels and if_levels[-1] == c:
                            if_levels.pop()
                        c = max(0, c - 1)
                    closes_cond = ch in (41, 93) and cond_depth >= 0 and p == cond_depth
                    pending_if = False  # a '(' was consumed above as the condition's start
                    await_brace = closes_cond
                    if closes_cond:
                        cond_depth = -1
                    prev_sig = ch
        elif state == _STRING or state == _CHAR:
            close = 34 if state == _STRING else 39
            if escaped:
                escaped = False
            elif ch == 92:  # backslash
                escaped = True
            elif ch == close or ch == 10:
                state = _NORMAL
        elif state == _LINE:
            if ch == 10:
                state = _NORMAL
        elif state == _BLOCK:
            if ch == 47 and b[t - 1] == 42 and t - 1 != block_open_at:
                state = _NORMAL
        quotes[t] = state == _STRING
        comment[t] = state in (_LINE, _BLOCK)
        paren[t], brace[t] = p, c
        in_if[t] = bool(if_levels)
    return {"in_quotes": quotes, "in_comment": comment, "bracket_depth": paren, "brace_depth": brace,
            "in_if_body": in_if}


def compute(text, lang: str = "prose") -> dict[str, Feature]:
    """Every feature defined for ``lang`` over ``text`` (bytes, str or uint8 array).

    Returns
    -------
    dict name -> Feature, each with values of shape (N,), N = number of bytes.
    """
    if lang not in LANGS:
        raise RnnvizError(f"unknown text language {lang!r}: use one of {', '.join(LANGS)}")
    b = _as_bytes(text)
    vals = {"line_position": line_position(b), "line_end_next": line_end_next(b)}
    vals.update(_c_scan(b) if lang == "c" else _prose_scan(b))
    return {name: Feature(name, FEATURES[name][0], FEATURES[name][2], vals[name])
            for name in FEATURES if lang in FEATURES[name][1]}


def guess_lang(text) -> str:
    """``"c"`` when the text looks like C source (many ``;``, ``{`` and ``*``/``//``), else ``"prose"``."""
    b = _as_bytes(text)
    if not b:
        return "prose"
    code = sum(b.count(s) for s in (b";", b"{", b"}", b"/*", b"//", b"->", b"=="))
    return "c" if code / len(b) > 0.01 else "prose"


def lang_for_dataset(dataset: str, text=None) -> str:
    """C for the Linux-kernel corpus, prose for War and Peace, guessed for other text."""
    if dataset == "lk":
        return "c"
    if dataset == "wp":
        return "prose"
    return guess_lang(text if text is not None else b"")
