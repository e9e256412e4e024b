"""An executed notebook turned into the page a reader gets: no raw output, the run's settings shown once.

:func:`present_notebook` is what the book pipeline applies to every executed notebook, so its rules hold on
every results page whoever wrote the notebook:

* the parameter cells become one box, "Parameters and provenance of this run": each parameter with the
  value the run used (a parameter left at ``None`` shows as "profile default: <value>", read from the
  values the notebook glued as ``resolved_parameters`` or else from the profile), the device it ran on,
  the commit, profile, data set and run time, and the run's log lines;
* log lines a notebook prints (``[semirobust] ...`` progress lines, ``record <kind>/<hash> written ...``)
  leave the page for that box; stderr (warnings, progress bars) and live-only widget outputs are dropped;
* the remaining printed text becomes Markdown paragraphs that wrap in the column; printed tables (lines
  aligned with runs of spaces) stay preformatted;
* raw representations are dropped: an expression's value shown only as text (``RunConfig(...)``, a list)
  and placeholders such as ``<Figure size 640x400 with 1 Axes>`` or ``<IPython.core.display.HTML object>``;
* claim boxes get their claim and glued status as title and the status's colour, a "Rerun this page" box
  follows the parameter box, and the page glues ``rerun_command`` and ``claim_status``
  (:mod:`semirobust.pipeline.page_boxes`);
* code inputs are hidden behind a toggle (``hide-input``; ``remove-input`` for a cell that shows nothing),
  glued strings lose their quotes, and the build machine's folders are removed from text outputs.
"""
from __future__ import annotations

import ast
import re

from semirobust.config import ARCH_SPECS, get_profile
from semirobust.experiments.report.markup import plain_markdown
from semirobust.pipeline.page_boxes import (
    claim_boxes,
    page_claim_status,
    page_glue_cell,
    rerun_box,
    rerun_command,
)
from semirobust.pipeline.pages import data_files

__all__ = ["LOG_LINE", "RESOLVED_GLUE", "HIDDEN_PARAMETERS", "present_notebook", "parameter_box", "profile_default",
           "unquote_glued_text", "glued_values"]

#: Output MIME types that only make sense in a live kernel (tqdm and other widgets).
_LIVE_ONLY_MIME = ("application/vnd.jupyter.widget-view+json", "application/vnd.jupyter.widget-state+json")
#: printed lines that belong to the provenance box, not to the page.
LOG_LINE = re.compile(r"^\s*(\[semirobust\]\s*|record \S+/\S+ written)")
#: a placeholder repr that says nothing to a reader.
_PLACEHOLDER = re.compile(r"^<.*( object|with \d+ Axes)>$", re.S)
#: the glue name under which a notebook may give the values its ``None`` parameters resolved to (a dict).
RESOLVED_GLUE = "resolved_parameters"
#: parameters that are machine paths or plumbing, not settings of the run.
HIDDEN_PARAMETERS = frozenset({"results_dir", "figures_dir", "data_root", "cache_dir", "progress"})
_GLUE_PREFIX = "application/papermill.record/"


def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_format(v) for v in value) or "none"
    return str(value)


def profile_default(name: str, profile: str, values: dict) -> str | None:
    """The value a notebook parameter left at ``None`` takes from ``profile`` (``None`` when the name has no
    fixed meaning across the notebooks), for the parameter box."""
    try:
        prof = get_profile(profile).for_run(str(values.get("model") or ""), str(values.get("dataset") or ""))
    except ValueError:
        return None
    model = values.get("model")
    table = {"eps": lambda: f"{prof.eps255}/255", "trials": lambda: prof.trials, "epochs": lambda: prof.sub_epochs,
             "k": lambda: prof.k, "gamma_images": lambda: prof.gamma_images, "gamma_steps": lambda: prof.gamma_steps,
             "gamma_restarts": lambda: prof.gamma_restarts, "apgd_steps": lambda: prof.s1_apgd_steps,
             "n_images": lambda: prof.test_subset, "autoattack_images": lambda: prof.eval_subset,
             "attacks": lambda: prof.s1_attacks or "all",
             "fb_layers": lambda: ARCH_SPECS[model].paper_fb_layers if model in ARCH_SPECS else None}
    value = table[name]() if name in table else None
    return None if value is None else _format(value)


def glued_values(notebook) -> dict:
    """Every value glued in an executed notebook (``myst_nb.glue``), as the text/plain it was glued with."""
    found = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            meta = output.get("metadata", {}).get("scrapbook")
            text = output.get("data", {}).get(_GLUE_PREFIX + "text/plain")
            if meta and text is not None:
                found[meta["name"]] = text if isinstance(text, str) else "".join(text)
    return found


def _parameters(notebook) -> dict:
    """The parameters of the run: the defaults of the ``parameters`` cell overridden by papermill's injected
    cell; each value as a Python value, or as written when it is an expression (``8 / 255``)."""
    values = {}
    for cell in notebook.cells:
        tags = cell.metadata.get("tags", [])
        if cell.cell_type == "code" and ("parameters" in tags or "injected-parameters" in tags):
            for node in ast.parse(cell.source).body:
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    try:
                        values[node.targets[0].id] = ast.literal_eval(node.value)
                    except ValueError:
                        values[node.targets[0].id] = ast.get_source_segment(cell.source, node.value)
    return values


def parameter_box(notebook, provenance: dict, log_lines=()) -> str:
    """Markdown: the run's parameters with the values used, its provenance and its log lines, in one box."""
    values = _parameters(notebook)
    resolved = {}
    text = glued_values(notebook).get(RESOLVED_GLUE)
    if text:
        try:
            resolved = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            resolved = {}
    rows = []
    for name, value in values.items():
        if name in HIDDEN_PARAMETERS:
            continue
        if value is None:
            used = _format(resolved[name]) if name in resolved else profile_default(name, provenance["profile"], values)
            shown = f"profile default: {plain_markdown(used)}" if used is not None else "profile default"
        elif name == "device":
            shown = f"`{value}` (ran on {plain_markdown(provenance['device'])})"
        else:
            shown = f"`{_format(value)}`"
        rows.append(f"| `{name}` | {shown} |")
    commit = provenance["commit"]
    lines = ["```{admonition} Parameters and provenance of this run", ":class: note", "",
             "| parameter | value used |", "|---|---|", *rows, "",
             f"Executed {provenance['executed_at'][:16].replace('T', ' ')} UTC on {provenance['device']} "
             f"at profile `{provenance['profile']}`, data set `{provenance['dataset']}`, from commit "
             f"`{commit[:10]}{'+changes' if commit.endswith('+changes') else ''}` "
             f"in {provenance['seconds']:.0f} s."]
    if log_lines:
        lines += ["", "Run log:", "", *(f"- {plain_markdown(line)}" for line in log_lines)]
    return "\n".join(lines + ["```"])


def present_notebook(notebook, provenance: dict, scrub: tuple[str, ...] = ()):
    """Turn an executed notebook into the page a reader gets (in place; returns it): the rules of this
    module's docstring."""
    import nbformat

    log_lines, cells, box_at = [], [], None
    glued = glued_values(notebook)
    for cell in notebook.cells:
        tags = list(cell.metadata.get("tags", []))
        if cell.cell_type == "markdown":
            cell.source = claim_boxes(cell.source, glued)
        if cell.cell_type == "code":
            if "parameters" in tags or "injected-parameters" in tags:
                if box_at is None:
                    box_at = len(cells)
                    cells.append(None)  # the box, filled in once every log line is known
                continue
            outputs = []
            for output in map(unquote_glued_text, cell.get("outputs", [])):
                outputs.extend(_presented(_scrubbed(output, scrub), log_lines))
            cell["outputs"] = outputs
            if not {"remove-cell", "remove-input", "hide-input"} & set(tags):
                # a cell that shows nothing (no output, or only glued values) gets no empty toggle
                tags.append("hide-input" if any(_visible(o) for o in outputs) else "remove-input")
            cell.metadata["tags"] = tags
        cells.append(cell)
    if box_at is not None:
        cells[box_at] = nbformat.v4.new_markdown_cell(parameter_box(notebook, provenance, log_lines))
        page = provenance["notebook"].rsplit("/", 1)[-1].removesuffix(".ipynb")
        cells.insert(box_at + 1, nbformat.v4.new_markdown_cell(
            rerun_box(provenance, log_lines, data_files(page))))
    page_values = {"rerun_command": rerun_command(provenance)}
    status = page_claim_status(glued)
    if status is not None:
        page_values["claim_status"] = status
    cells.append(page_glue_cell(page_values))
    notebook.cells = cells
    notebook.metadata.pop("widgets", None)
    return notebook


def _presented(output, log_lines: list) -> list:
    """What one output becomes on the page (none, one or two outputs); log lines go to ``log_lines``."""
    import nbformat

    kind = output.get("output_type")
    if kind == "stream":
        if output.get("name") == "stderr":
            return []
        text = output["text"] if isinstance(output["text"], str) else "".join(output["text"])
        kept = []
        for line in text.splitlines():
            if LOG_LINE.match(line):
                log_lines.append(line.strip().removeprefix("[semirobust]").strip())
            else:
                kept.append(line)
        if not "\n".join(kept).strip():
            return []
        if any(re.search(r"\S {2,}\S", line) or line.startswith(" ") for line in kept if line.strip()):
            return [nbformat.from_dict({**output, "text": "\n".join(kept) + "\n"})]  # a printed table: keep it aligned
        paragraphs = "\n\n".join(plain_markdown(line.strip()) for line in kept if line.strip())
        return [nbformat.v4.new_output("display_data", data={"text/markdown": paragraphs})]
    data = output.get("data")
    if data is None:
        return [output]
    for mime in _LIVE_ONLY_MIME:
        data.pop(mime, None)
    if "text/plain" in data:
        plain = data["text/plain"] if isinstance(data["text/plain"], str) else "".join(data["text/plain"])
        richer = [m for m in data if m != "text/plain" and not m.startswith(_GLUE_PREFIX)]
        if richer or _PLACEHOLDER.match(plain.strip()) or kind == "execute_result":
            data.pop("text/plain")  # a placeholder, or a raw repr of an expression's value: nothing for a reader
    return [output] if data else []


def unquote_glued_text(output):
    """A glued Python string shows on the page without its quotes (``'held'`` -> ``held``).

    myst-nb's ``{glue:text}`` inserts the ``text/plain`` repr, which for a ``str`` is a quoted literal.
    """
    key = _GLUE_PREFIX + "text/plain"
    value = output.get("data", {}).get(key)
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        try:
            text = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return output
        if isinstance(text, str):
            output["data"][key] = text
    return output


def _visible(output) -> bool:
    """Whether an output shows anything on the page (glued values are read elsewhere, not shown)."""
    if output.get("output_type") == "stream":
        return bool(str(output.get("text", "")).strip())
    return any(not mime.startswith(_GLUE_PREFIX) for mime in output.get("data", {}))


def _scrubbed(output, scrub: tuple[str, ...]):
    def clean(text: str) -> str:
        for prefix in scrub:
            text = text.replace(prefix.rstrip("/") + "/", "").replace(prefix, ".")
        return text

    if "text" in output:
        output["text"] = clean(output["text"] if isinstance(output["text"], str) else "".join(output["text"]))
    for mime, value in output.get("data", {}).items():
        if mime.startswith("text/") and isinstance(value, (str, list)):
            output["data"][mime] = clean(value if isinstance(value, str) else "".join(value))
    return output
