"""The verdict boxes' shared logic: a claim's status read from an interval, in words that never overstate.

Every result page closes its verdict box with a status of the paper's claim, one of :data:`STATUSES`,
and the landing page's reproducibility summary collects them (``semirobust.pipeline.status``). A claim
predicts that a quantity lies below (or above) a threshold, e.g. Spearman's r below 0 or
Acc~ - Acc* above -k. The status comes from the quantity's interval, never from its point estimate:

* confirmed: the whole interval lies on the predicted side;
* not confirmed: the whole interval lies on the other side;
* undecided: the interval contains the threshold, or there is no interval (one seed, too few trials);
* not testable at this scale: the run cannot measure the quantity at all (say so with the reason).

No sentence of this module says "supports": a reading is "consistent with the claim" only when the whole
interval is on the predicted side.
"""
from __future__ import annotations

import math

#: the statuses a claim can have, in the words of the ML Reproducibility Challenge's summaries.
STATUSES = ("confirmed", "not confirmed", "undecided", "not testable at this scale")
#: the glue names of a claim ``<id>``: the claim in a few words, its status and the evidence (a number and
#: its interval); the summary page finds claims by these names.
CLAIM_GLUE = ("claim_{id}_text", "claim_{id}_status", "claim_{id}_evidence")


def _finite(*values) -> bool:
    return all(v is not None and isinstance(v, (int, float)) and math.isfinite(v) for v in values)


def interval_status(low, high, threshold: float = 0.0, predicts: str = "below") -> str:
    """The claim's status from the interval [``low``, ``high``]: the claim ``predicts`` the quantity lies
    "below" or "above" ``threshold``. Missing or infinite bounds (no interval) give "undecided"."""
    if predicts not in ("below", "above"):
        raise ValueError(f"predicts={predicts!r} must be 'below' or 'above'.")
    if not _finite(low, high):
        return "undecided"
    if low > high:
        raise ValueError(f"interval [{low}, {high}] has low above high.")
    inside, outside = (high < threshold, low > threshold) if predicts == "below" else (low > threshold, high < threshold)
    return "confirmed" if inside else "not confirmed" if outside else "undecided"


def reading(status: str, threshold_text: str, predicts: str = "below", *, no_interval: str = "") -> str:
    """One sentence reading ``status`` (from :func:`interval_status`) against the threshold, named in words by
    ``threshold_text`` (e.g. "0, the value of no effect"). ``no_interval`` gives the reason an undecided claim
    has no interval (e.g. "one seed"); empty means the interval contains the threshold."""
    other = "above" if predicts == "below" else "below"
    if status == "confirmed":
        return f"The whole interval lies {predicts} {threshold_text}: consistent with the claim at this scale."
    if status == "not confirmed":
        return f"The whole interval lies {other} {threshold_text}: the claim does not hold here."
    if status == "undecided":
        if no_interval:
            return f"No interval ({no_interval}): undecided."
        return f"The interval contains {threshold_text}: undecided, this run cannot tell the claim from its opposite."
    if status == "not testable at this scale":
        return "Not testable at this scale" + (f": {no_interval}." if no_interval else ".")
    raise ValueError(f"Unknown status {status!r}; valid: {', '.join(STATUSES)}.")


#: the CSS class of each status (``claim-confirmed`` ...): the colour of a claim box and of a status badge.
STATUS_CLASSES = {status: "claim-" + status.split(" at ")[0].replace(" ", "-") for status in STATUSES}
#: the title a claim box carries on a page: the claim, then its status, so a reader of titles alone reads both.
CLAIM_TITLE = "Claim: {claim} — {status}"


def _known(status: str) -> str:
    if status not in STATUSES:
        raise ValueError(f"Unknown status {status!r}; valid: {', '.join(STATUSES)}.")
    return status


def claim_title(claim: str, status: str) -> str:
    """The title of a claim box: "Claim: <claim> — <status>" (the one place the four words reach a title)."""
    return CLAIM_TITLE.format(claim=claim, status=_known(status))


def claim_classes(status: str) -> str:
    """The admonition classes of a claim box with ``status``: ``verdict claim claim-<status>``."""
    return f"verdict claim {STATUS_CLASSES[_known(status)]}"


def status_badge(status: str) -> str:
    """``status`` as an inline HTML badge coloured like the claim boxes (for tables, e.g. the landing page)."""
    return f'<span class="claim-badge {STATUS_CLASSES[_known(status)]}">{_known(status)}</span>'


def claim_values(claim_id: str, claim: str, status: str, evidence: str) -> dict:
    """The glue names and values of one claim (:data:`CLAIM_GLUE`), for the notebook to glue."""
    _known(status)
    if not claim_id.isidentifier():
        raise ValueError(f"claim_id={claim_id!r} must be a Python identifier (it becomes a glue name).")
    names = [name.format(id=claim_id) for name in CLAIM_GLUE]
    return dict(zip(names, (claim, status, evidence)))


__all__ = ["STATUSES", "CLAIM_GLUE", "STATUS_CLASSES", "CLAIM_TITLE", "claim_title", "claim_classes", "status_badge",
           "interval_status", "reading", "claim_values"]
