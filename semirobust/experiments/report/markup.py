"""Tables and sentences as readers see them: HTML tables with the paper's symbols in the headers, and
computed sentences as Markdown that wraps on the page (a printed line scrolls out of sight).

Library code returns plain DataFrames with ASCII column names (``acc_star``, ``rho_{n-3}``); the
notebooks show them through :func:`html_table`, which renders the names as the paper writes them
(Acc*, Acc<sub>sr</sub>, rho<sub>n-3</sub>) without touching the data.
"""
from __future__ import annotations

import html
import math
import re

import pandas as pd

__all__ = ["column_label", "reader_frame", "html_table", "plain_markdown", "sentences", "as_sentence"]

#: Fixed names -> HTML labels; anything else goes through the patterns in :func:`column_label`.
LABELS = {
    "acc_star": "Acc*", "acc_sr": "Acc<sub>sr</sub>", "acc_tilde": "Acc<sup>~</sup>",
    "acc_tilde_unbiased": "Acc<sup>~</sup> (validation-selected)", "diff": "Diff",
    "acc_regular_clean": "regular, clean", "acc_regular_attacked": "regular, attacked",
    "acc_regular": "regular, attacked", "acc_star_clean": "Acc* clean", "acc_rand": "Acc<sub>rand</sub>",
    "fb_layers": "f<sub>b</sub> layers", "fa_layers": "f<sub>a</sub> layers", "arch": "model",
    "gamma_a": "&gamma;<sub>a</sub>", "gamma_b": "&gamma;<sub>b</sub>", "gamma_n": "&gamma;<sub>n</sub>",
}
_GREEK = {"rho": "&rho;", "gamma": "&gamma;", "lambda": "&lambda;", "pi": "&pi;"}
_SYMBOL = re.compile(r"^(rho|gamma|lambda|pi)_\{?([^}\s]+?)\}?(?P<rest>(?:[ _].*)?)$")


#: the paper's symbols inside any header: f_a, f_b, Acc_sr, Acc_rand, Acc~ (read after HTML escaping).
_TOKENS = ((re.compile(r"\bf_([ab])\b"), r"f<sub>\1</sub>"), (re.compile(r"\bAcc_(sr|rand)\b"), r"Acc<sub>\1</sub>"),
           (re.compile(r"\bAcc~"), "Acc<sup>~</sup>"))


def column_label(name) -> str:
    """The HTML header for a column name: ``rho_{n-3}`` -> rho<sub>n&minus;3</sub>, ``acc_sr`` and ``Acc_sr`` ->
    Acc<sub>sr</sub>, ``f_b layers`` -> f<sub>b</sub> layers; other underscores become spaces."""
    text = str(name)
    if text in LABELS:
        return LABELS[text]
    match = _SYMBOL.match(text)
    if match:
        symbol, sub, rest = match.group(1), match.group(2), match.group("rest") or ""
        sub = html.escape(sub).replace("-", "&minus;")
        return f"{_GREEK[symbol]}<sub>{sub}</sub>{_with_tokens(rest)}"
    return _with_tokens(text)


def _with_tokens(text: str) -> str:
    """``text`` escaped, with the paper's symbols as HTML and the remaining underscores as spaces."""
    out = html.escape(text)
    for pattern, replacement in _TOKENS:
        out = pattern.sub(replacement, out)
    return re.sub(r"_(?![^<]*>)", " ", out)


def _reader_number(value, digits: int) -> str:
    """A float as a reader reads it: ``digits`` significant digits, thousands separated, never in e-notation."""
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{value:,.0f}"
    if abs(value) >= 10 ** digits:
        return f"{value:,.0f}"
    if abs(value) < 10 ** -(digits + 1):
        return f"{value:.{digits}e}".replace("e-0", "e-")
    return f"{value:.{digits}g}"


def reader_frame(frame: pd.DataFrame, *, digits: int = 3, missing: str = "not measured") -> pd.DataFrame:
    """``frame`` for a reader: no 0..n index (it says nothing; a named index, e.g. a groupby's keys, becomes
    columns), floats at ``digits`` significant digits and missing values (NaN, None) as the words ``missing``
    says, e.g. "not defined: a = n - 1"."""
    shown = frame.reset_index(drop=isinstance(frame.index, pd.RangeIndex) or all(n is None for n in frame.index.names))

    def cell(value):
        if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
            return missing
        if isinstance(value, float):
            return _reader_number(value, digits)
        return value

    return shown.map(cell)


def html_table(frame: pd.DataFrame, *, caption: str | None = None, index: bool = False):
    """``frame`` as a compact HTML table (IPython ``HTML``) with the paper's symbols in the headers."""
    from IPython.display import HTML

    shown = frame.map(lambda v: html.escape(v) if isinstance(v, str) else v)  # cells as text, headers as HTML
    shown = shown.rename(columns={c: column_label(c) for c in frame.columns})
    body = shown.to_html(index=index, escape=False, na_rep="", border=0, classes="semirobust-table table")
    if caption:
        body = body.replace(">\n  <thead>", f">\n  <caption>{html.escape(caption)}</caption>\n  <thead>", 1)
    return HTML(f'<div class="semirobust-table-wrap">{body}</div>')


#: characters that Markdown would read as markup (``Acc*`` would open an emphasis, ``f_b`` may too).
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_~\[\]<>#|])")


def plain_markdown(text: str) -> str:
    """``text`` with every Markdown special character escaped, so it shows exactly as written."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text))


def sentences(lines, *, bold_first: bool = False):
    """Computed sentences as one Markdown block (IPython ``Markdown``): a bullet per line, escaped;
    indented lines (two spaces) become nested bullets. ``bold_first`` sets a single sentence in bold."""
    from IPython.display import Markdown

    lines = [lines] if isinstance(lines, str) else list(lines)
    if bold_first and len(lines) == 1:
        return Markdown(f"**{plain_markdown(lines[0])}**")
    items = [("  - " if line.startswith("  ") else "- ") + plain_markdown(line.strip()) for line in lines]
    return Markdown("\n".join(items))


def as_sentence(text: str) -> str:
    """``text`` as a sentence: its first letter capitalized and a full stop at the end (library sentences
    start in lower case so that they can also sit inside a longer one)."""
    return f"{text[0].upper()}{text[1:]}."
