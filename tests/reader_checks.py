"""What a reader must not meet on a rendered page (issue 38), as functions of the page's HTML: a claim box
whose title contradicts its status, a raw data frame (a bare 0..n index column, a snake_case header), a NaN
shown as a value, and a landing page taller than its target. The browser test calls them on the built book;
tests/test_reader_checks.py runs them on small fixtures that must fail."""
from __future__ import annotations

import re

from bs4 import BeautifulSoup

from semirobust.experiments.report.verdicts import STATUS_CLASSES, STATUSES

#: the landing page's height target at 1280 px (CSS pixels).
LANDING_MAX_PX = 6000
_SNAKE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
_MISSING = re.compile(r"^\s*(nan|NaN|None|<NA>|NaT|null)\s*$")
#: the words of an old verdict title, which reads as the answer whatever the status.
_VERDICT = re.compile(r"^\s*Verdict\b", re.I)


def _main(html: str):
    soup = BeautifulSoup(html, "html.parser")
    return soup.find("main") or soup


def claim_title_problems(html: str) -> list[str]:
    """Claim boxes whose title does not end in the status their colour gives, or boxes titled "Verdict"."""
    found = []
    for box in _main(html).select("div.admonition"):
        title = box.find(class_="admonition-title")
        text = title.get_text(" ", strip=True) if title else ""
        if _VERDICT.match(text):
            found.append(f"a box titled as a verdict: {text[:80]!r}")
        classes = set(box.get("class", []))
        if "claim" not in classes:
            continue
        status = [s for s, css in STATUS_CLASSES.items() if css in classes]
        if len(status) != 1:
            found.append(f"claim box without one status colour: {text[:80]!r}")
        elif not text.endswith(f"— {status[0]}"):
            found.append(f"claim box coloured {status[0]!r} whose title says otherwise: {text[:80]!r}")
        elif not any(text.endswith(f"— {s}") for s in STATUSES):
            found.append(f"claim box title without a status: {text[:80]!r}")
    return found


def raw_frame_problems(html: str) -> list[str]:
    """Tables that show a data frame raw: an unnamed first column (pandas' index) counting 0..n, or snake_case
    headers. A named first column that counts from 0 (a layer pair x, an epoch) is data, not an index."""
    found = []
    for table in _main(html).find_all("table"):
        headers = [th.get_text(" ", strip=True) for th in table.select("thead th")]
        snake = [h for h in headers if _SNAKE.search(h)]
        if snake:
            found.append(f"snake_case headers {snake[:3]}")
        first = [row.find(["th", "td"]) for row in table.select("tbody tr")]
        first = [cell.get_text(strip=True) for cell in first if cell is not None]
        unnamed = not headers or headers[0] == ""
        if unnamed and len(first) >= 2 and first == [str(i) for i in range(len(first))]:
            found.append(f"an index column 0..{len(first) - 1} (headers {headers[:3]})")
    return found


def missing_value_problems(html: str) -> list[str]:
    """Table cells that show a missing value as NaN, None or the like instead of words."""
    cells = [c.get_text(strip=True) for c in _main(html).select("td, th")]
    shown = sorted({c for c in cells if _MISSING.match(c)})
    return [f"{sum(c in shown for c in cells)} table cells read {shown}"] if shown else []


def landing_height_problems(height_px: float, limit: float = LANDING_MAX_PX) -> list[str]:
    """The landing page over its height target at the desktop width."""
    return [f"landing page {height_px:.0f} px tall at 1280 px, over {limit:.0f} px"] if height_px > limit else []


def reader_problems(html: str) -> list[str]:
    """Every check of this module that reads a page's HTML."""
    return claim_title_problems(html) + raw_frame_problems(html) + missing_value_problems(html)
