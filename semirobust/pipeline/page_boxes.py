"""The boxes the presentation step writes on every results page, from what the run glued and its provenance.

* Claim boxes: a notebook titles its claim box ``Claim: <claim> — {glue:text}`claim_<id>_status```; the
  title here gets the glued status in words (:func:`semirobust.experiments.report.verdicts.claim_title`)
  and the box the colour of that status (:func:`~semirobust.experiments.report.verdicts.claim_classes`), so
  a reader who reads titles only reads the claim and its status, never a verdict the result contradicts.
* "Rerun this page": the ``papermill`` command that reproduces the page with this run's parameters, how long
  the run took (reading stored records, and the records' own compute time where the run log gives it) and
  the data files the page reads.
* Two page-level glue values, ``rerun_command`` and ``claim_status`` (the status of the page's first claim).
"""
from __future__ import annotations

import json
import re
import shlex

from semirobust.experiments.report.verdicts import STATUSES, claim_classes, claim_title

__all__ = ["CLAIM_BOX", "PAGE_GLUE_MARKER", "claim_boxes", "page_claim_status", "rerun_command", "rerun_box",
           "page_glue_cell"]

#: the opening of a claim box in a notebook's Markdown: the fence, "Claim: <claim> — " and the status role.
CLAIM_BOX = re.compile(r"^(?P<fence>`{3,}|:{3,})\{admonition\}\s*Claim:\s*(?P<claim>.+?)\s*—\s*"
                       r"\{glue:text\}`claim_(?P<id>\w+?)_status(?::s)?`\s*$")
_CLAIM_STATUS = re.compile(r"^claim_(\w+)_status$")
_RECORD_SECONDS = re.compile(r"^record \S+ written; (?P<seconds>\d+(\.\d+)?) s\b")
_GLUE_PREFIX = "application/papermill.record/"


def _status(glued: dict, claim_id: str) -> str:
    name = f"claim_{claim_id}_status"
    if name not in glued:
        raise ValueError(f"a claim box names {name!r}, which the notebook did not glue.")
    status = glued[name].strip().strip("'\"")
    if status not in STATUSES:
        raise ValueError(f"{name} is {status!r}, not one of {', '.join(STATUSES)}.")
    return status


def claim_boxes(source: str, glued: dict) -> str:
    """Markdown ``source`` with every claim box titled by its claim and glued status and coloured by it (the
    box's ``:class:`` line is replaced, or added when there is none)."""
    lines, out = source.split("\n"), []
    i = 0
    while i < len(lines):
        match = CLAIM_BOX.match(lines[i])
        if not match:
            out.append(lines[i])
            i += 1
            continue
        status = _status(glued, match.group("id"))
        out += [f"{match.group('fence')}{{admonition}} {claim_title(match.group('claim'), status)}",
                f":class: {claim_classes(status)}"]
        i += 1
        if i < len(lines) and lines[i].startswith(":class:"):
            i += 1
    return "\n".join(out)


def page_claim_status(glued: dict) -> str | None:
    """The status of the page's first glued claim (``None`` when the page glues no claim)."""
    for name in glued:
        match = _CLAIM_STATUS.match(name)
        if match:
            return _status(glued, match.group(1))
    return None


def rerun_command(provenance: dict) -> str:
    """The ``papermill`` command that reruns the page with the parameters of this run (from the repository
    root; the executed copy lands in ``book/results/``, where the book pipeline runs it)."""
    notebook = provenance["notebook"]
    name = notebook.rsplit("/", 1)[-1]
    parts = ["papermill", notebook, f"book/results/{name}", "--cwd", "book/results"]
    for key, value in sorted(provenance.get("key", {}).get("parameters", {}).items()):
        if value is None or isinstance(value, (str, int, float, bool)):
            parts += ["-p", key, str(value)]
        else:
            parts += ["-y", json.dumps({key: value})]
    return " ".join(shlex.quote(part) for part in parts)


def _expected_time(provenance: dict, log_lines) -> str:
    seconds = provenance["seconds"]
    cold = [float(m.group("seconds")) for m in map(_RECORD_SECONDS.match, log_lines) if m]
    took = f"{seconds:.0f} s on {provenance['device']} in the last build"
    if cold:
        return (f"{took}, reading its stored records; computing those records from scratch (cold) took "
                f"{sum(cold):.0f} s by the run log")
    return f"{took} (from the results store as it was; a cold run, with no stored records, takes longer)"


def rerun_box(provenance: dict, log_lines=(), data_files=()) -> str:
    """Markdown: the "Rerun this page" box (command, expected time, data files)."""
    lines = ["````{admonition} Rerun this page", ":class: tip rerun", "",
             "From the repository root, with the package installed:", "", "```bash",
             rerun_command(provenance), "```", "",
             f"Expected time: {_expected_time(provenance, list(log_lines))}."]
    if data_files:
        lines += ["", "Data files this page reads: " + ", ".join(f"`semirobust/data_files/{f}`" for f in data_files)
                  + " (described in `semirobust/data_files/README.md`)."]
    return "\n".join(lines + ["````"])


#: the first line of the code cell the presentation step adds to carry the page's own glue values (not the author's)
PAGE_GLUE_MARKER = "# glued by the presentation step: "


def page_glue_cell(values: dict):
    """A code cell that shows nothing and carries ``values`` as glued text (as ``myst_nb.glue`` writes them); its
    source starts with :data:`PAGE_GLUE_MARKER`, so the notebook's own code cells can be told from it."""
    import nbformat

    outputs = [nbformat.v4.new_output("display_data", data={_GLUE_PREFIX + "text/plain": str(value)},
                                      metadata={"scrapbook": {"name": name, "mime_prefix": _GLUE_PREFIX}})
               for name, value in values.items()]
    cell = nbformat.v4.new_code_cell(PAGE_GLUE_MARKER + ", ".join(values), outputs=outputs)
    cell.metadata["tags"] = ["remove-input"]
    return cell
