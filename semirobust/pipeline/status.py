"""The book's reproduction-status page and its reproducibility summary, generated from the executed
notebooks and the results store.

The status page: two tables, nothing typed by hand: one row per rendered results page (from the
provenance file the book pipeline writes beside each executed notebook: profile, data set, device,
date, commit), and one row per record in the results store (which configuration, at which profile,
when, on which device, from which commit, which record file), so runs merged from a GPU cluster are
listed too.

The summary (:func:`write_summary`, ``book/_generated/summary.md``, included at the top of the landing
page) has the form the ML Reproducibility Challenge asks of every report: scope, what was easy, what
was hard, and each claim with its status. The claims are those the executed notebooks glue under
:data:`semirobust.experiments.report.verdicts.CLAIM_GLUE` (``claim_<id>_text``, ``claim_<id>_status``,
``claim_<id>_evidence``); the summary refers to them with ``{glue:text}`` roles, so the words on the
landing page are the ones on the result pages, and counts the statuses it read.
"""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import nbformat

from semirobust.experiments.report.markup import plain_markdown
from semirobust.experiments.report.verdicts import STATUSES, status_badge
from semirobust.pipeline.notebook_outputs import glued_values
from semirobust.pipeline.pages import READING_ORDER, page
from semirobust.results import ResultsStore
from semirobust.utils import atomic_write_text

_SUMMARY_KEYS = ("arch", "model", "models", "dataset", "datasets", "attack", "eps", "fb_layers", "fb_sizes")


def _summary(config: dict) -> str:
    parts = []
    for key in _SUMMARY_KEYS:
        if key in config and config[key] is not None:
            value = config[key]
            if key == "eps" and isinstance(value, (int, float)):
                value = f"{value * 255:.0f}/255"
            parts.append(f"{key}={value}")
    return ", ".join(parts) or "default"


def status_rows(store: ResultsStore) -> list[dict]:
    """One row per stored result the book renders (the record kinds of :data:`semirobust.pipeline.pages.PAGES`, in
    the book's reading order), newest first within each kind."""
    rows = []
    for kind, label, toc in [(kind, label, p.toc) for p in READING_ORDER for kind, label in p.kinds]:
        records = sorted(store.records(kind), key=lambda r: r["created_at"], reverse=True)
        for record in records:
            config = record["config"]
            rows.append({
                "result": label,
                "page": toc,
                "configuration": _summary(config),
                "profile": record.get("profile", "?"),
                "dataset": config.get("dataset", config.get("datasets", "none (synthetic)")),
                "last_run_utc": record["created_at"][:19].replace("T", " "),
                "device": record.get("device", "?"),
                "commit": str(record.get("git_commit", "unknown"))[:10],
                "record": f"{kind}/{record['config_hash']}.json",
            })
    return rows


def render_status_markdown(rows: list[dict], store_root: Path) -> str:
    """A MyST table of ``rows`` (or a plain statement that nothing has been computed yet)."""
    if not rows:
        return "No result has been computed yet: the results store is empty.\n"
    profiles = sorted({row["profile"] for row in rows})
    lines = [
        f"Results store: `{store_root.name}/` ({len(rows)} records; profiles present: "
        f"{', '.join(profiles)}). Only records at profile `paper` on the paper's data sets are comparable "
        "with the paper's numbers.",
        "",
        "| Result | Configuration | Profile | Data set | Last run (UTC) | Device | Commit | Record |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {{doc}}`{row['result']} </{row['page']}>` | {row['configuration']} | {row['profile']} | "
            f"{row['dataset']} | {row['last_run_utc']} | {row['device']} | `{row['commit']}` | `{row['record']}` |"
        )
    return "\n".join(lines) + "\n"


def page_rows(executed_dir: Path, notebooks) -> list[dict]:
    """One row per results page: the provenance of its executed notebook (or that it is missing)."""
    rows = []
    for name in notebooks:
        path = Path(executed_dir) / f"{name}.provenance.json"
        if not path.exists():
            rows.append({"page": f"results/{name}", "state": "not executed"})
            continue
        p = json.loads(path.read_text())
        rows.append({"page": f"results/{name}", "state": "executed", "profile": p["profile"], "dataset": p["dataset"],
                     "executed_utc": p["executed_at"][:16].replace("T", " "), "device": p["device"],
                     "commit": p["commit"][:10] + ("+changes" if p["commit"].endswith("+changes") else ""),
                     "seconds": p["seconds"]})
    return rows


def render_pages_markdown(rows: list[dict]) -> str:
    """A MyST table of :func:`page_rows`."""
    lines = ["| Page | Profile | Data set | Executed (UTC) | Device | Commit | Run time |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        if row["state"] != "executed":
            lines.append(f"| {{doc}}`/{row['page']}` | not executed | | | | | |")
            continue
        lines.append(f"| {{doc}}`/{row['page']}` | `{row['profile']}` | {row['dataset']} | {row['executed_utc']} | "
                     f"{row['device']} | `{row['commit']}` | {row['seconds']:.0f} s |")
    return "\n".join(lines) + "\n"


def write_status_page(path: Path, store: ResultsStore | None = None, *, executed_dir: Path | None = None,
                      notebooks=()) -> Path:
    """Generate the status tables into ``path`` (included by the book's landing page)."""
    store = store or ResultsStore()
    parts = []
    if executed_dir is not None:
        parts += ["**Rendered results pages.** Each page is the executed notebook committed with the book; "
                  "its numbers come from this run:", "", render_pages_markdown(page_rows(executed_dir, notebooks))]
    parts += ["**Records in the results store of the build.**", "", render_status_markdown(status_rows(store), store.root)]
    return atomic_write_text(path, "\n".join(parts))


_CLAIM_STATUS = re.compile(r"^claim_(\w+)_status$")

#: what was easy and what was hard, as the sessions that built this companion found it; numbers are glued.
EASY = ("The procedures are specified well enough to implement from public libraries: Algorithm 1 and the "
        "networks from the paper and its supplementary, the attacks from torchattacks and AutoAttack, EDGE from "
        "Noshad et al.'s published estimator; every code path runs on a CPU at the smoke profile in minutes.")
#: the cost question, in the pays page's glued verdict (left out when that page did not glue it).
HARD_SCALE = ("The cost the paper's motivation rests on: Algorithm 1 needs a fully robust network first. "
              "{glue:text}`results/pays.ipynb::pays_verdict:s`")
HARD = ("Details the main text leaves open had to be read from the supplementary and the authors' code: how "
        "Acc~ is selected (their code keeps the best test accuracy), which trial's rho is reported, the EDGE "
        "settings, and how f_a is frozen (their loop copies f_a's weights back after each step, with its "
        "BatchNorm in train mode); each is a stated choice on the pages.",
        "rho between two deterministic layers has no finite true value: an EDGE estimate depends on its settings "
        "and is bounded by log2 N, so every rho is shown beside a permutation null and that ceiling "
        "({doc}`how rho is estimated <theory/edge>`).",
        "A CPU's time: evaluation, not training, is where it goes (every trial epoch is attacked on the validation "
        "and test images, every selected network scored, the full AutoAttack on the first seed's final networks), "
        "so the offline profile shortens the scoring attack (checked against the standard one on the "
        "{doc}`attacks and budgets page </results/budgets>`) and leaves out what its pages say it leaves out.")


def decisive_evidence(evidence: str) -> str:
    """The part of a claim's evidence that decides it, for the landing page's one line per claim: its first
    clause (up to the first ". " or "; " outside parentheses), with parentheses inside parentheses left out
    (the number and its interval stay; the full evidence is on the page)."""
    out, depth = [], 0
    for i, char in enumerate(evidence):
        if char == "(":
            depth += 1
        if depth <= 1:
            out.append(char)
        if char == ")":
            depth = max(depth - 1, 0)
        if depth == 0 and char in ".;" and evidence[i + 1:i + 2] in (" ", ""):
            break
    text = re.sub(r"\s+\)", ")", "".join(out)).strip().rstrip(".;")
    return text + "."


def claims(executed_dir: Path) -> list[dict]:
    """Every claim glued by an executed notebook (in the book's reading order), with its status as glued and the
    profile and data set of the page's run."""
    found = []
    for name in [p.name for p in READING_ORDER]:
        path = Path(executed_dir) / f"{name}.ipynb"
        provenance = Path(executed_dir) / f"{name}.provenance.json"
        if not path.exists() or not provenance.exists():
            continue
        glued = glued_values(nbformat.read(path, as_version=4))
        run = json.loads(provenance.read_text())
        for key, status in glued.items():
            match = _CLAIM_STATUS.match(key)
            if not match or f"claim_{match.group(1)}_text" not in glued or f"claim_{match.group(1)}_evidence" not in glued:
                continue
            try:
                status = ast.literal_eval(status)
            except (ValueError, SyntaxError):
                pass
            evidence = glued[f"claim_{match.group(1)}_evidence"]
            try:
                evidence = ast.literal_eval(evidence)
            except (ValueError, SyntaxError):
                pass
            found.append({"page": name, "id": match.group(1), "status": status, "profile": run["profile"],
                          "dataset": run["dataset"], "evidence": str(evidence)})
    return found


def render_summary_markdown(found: list[dict], page_rows_: list[dict], scale_glued: bool = False) -> str:
    """The reproducibility summary (scope, easy, hard, claims) as MyST Markdown; ``scale_glued``: the pays page
    glued its verdict on the cost, which the "hard" paragraph then quotes."""
    executed = [r for r in page_rows_ if r["state"] == "executed"]
    profiles = sorted({r["profile"] for r in executed})
    datasets = sorted({d for r in executed for d in str(r["dataset"]).split(",") if d})
    if len(profiles) > 1:  # pages of different runs: say which profile how often
        shown = ", ".join(f"{p} ({sum(r['profile'] == p for r in executed)} pages)" for p in profiles)
    else:
        shown = ", ".join(profiles) or "none"
    minutes = sum(r["seconds"] for r in executed) / 60
    devices = sorted({r["device"] for r in executed})
    scale = ("the paper's scale" if profiles == ["paper"] else
             "a small-scale check on offline data (Fashion-MNIST from Debian's package, digits bundled with "
             "scikit-learn), not the paper's scale (CIFAR-10, CIFAR-100, Imagenette, 120 epochs, full-width networks)")
    counts = {s: sum(c["status"] == s for c in found) for s in STATUSES}
    lines = ["## Reproducibility summary", "",
             f"**Scope.** This build reproduces the paper's theory checks, Table 1 with its controls, the "
             f"supplementary's attacks and budgets (Tables S2-S4) and Table S5, Figures 1 and 2, the estimator "
             f"behind rho and the cost question (does semirobust training pay?) at profile {shown} on data set "
             f"{', '.join(datasets) or 'none'}: {scale}. {len(executed)} result pages were executed in "
             f"{minutes:.0f} min of notebook time on {'; '.join(devices) or 'no device'}.", "",
             f"**What was easy.** {EASY}", "",
             "**What was hard.**", "", *(f"- {s}" for s in ((HARD_SCALE,) if scale_glued else ()) + HARD), "",
             "**Claims.** " + (", ".join(f"{n} {s}" for s, n in counts.items() if n) or "none summarised yet") +
             ". A status reads the claim's interval, not its point estimate: confirmed when the whole interval "
             "lies on the side the paper predicts, undecided when it contains the value of no effect (or there is "
             "no interval), not testable when this scale cannot measure it.", ""]
    if found:
        lines += ["| claim of the paper | status | the number that decides it | page |", "|---|---|---|---|"]
        for claim in found:
            ref = f"results/{claim['page']}.ipynb::claim_{claim['id']}"
            lines.append(f"| {{glue:text}}`{ref}_text:s` | {status_badge(claim['status'])} | "
                         f"{plain_markdown(decisive_evidence(claim['evidence']))} "
                         f"(profile {claim['profile']}, {claim['dataset'].replace(',', ', ')}) | "
                         f"{{doc}}`{page(claim['page']).link} </results/{claim['page']}>` |")
    return "\n".join(lines) + "\n"


def write_summary(path: Path, *, executed_dir: Path, notebooks=tuple(p.name for p in READING_ORDER)) -> Path:
    """Generate the reproducibility summary into ``path`` (included by the book's landing page)."""
    pays = Path(executed_dir) / "pays.ipynb"
    scale_glued = pays.exists() and "pays_verdict" in glued_values(nbformat.read(pays, as_version=4))
    return atomic_write_text(path, render_summary_markdown(claims(executed_dir), page_rows(executed_dir, notebooks),
                                                           scale_glued))


__all__ = ["status_rows", "render_status_markdown", "page_rows", "render_pages_markdown",
           "write_status_page", "EASY", "HARD", "HARD_SCALE", "decisive_evidence", "claims", "render_summary_markdown",
           "write_summary"]
