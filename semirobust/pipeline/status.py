"""The book's reproduction-status page, generated from the executed notebooks and the results store.

Two tables, nothing typed by hand: one row per rendered results page (from the provenance file the
book pipeline writes beside each executed notebook: profile, data set, device, date, commit), and
one row per record in the results store (which configuration, at which profile, when, on which
device, from which commit, which record file), so runs merged from a GPU cluster are listed too.
"""
from __future__ import annotations

import json
from pathlib import Path

from semirobust.results import ResultsStore
from semirobust.utils import atomic_write_text

#: record kinds the book renders, with the page that shows them.
RESULT_KINDS = {
    "table1": ("Table 1 row", "results/table1"),
    "figure1": ("Figure 1", "results/figure1"),
    "figure2": ("Figure 2", "results/figure2"),
    "theorem3": ("Theorem 3 / Algorithm S1", "results/theorem3_linear"),
    "weight_bound": ("Section 2.2 bounds", "results/weight_bound"),
    "mi_estimator": ("EDGE validation", "results/mi_estimator"),
}
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
    """One row per stored result the book renders, newest first within each kind."""
    rows = []
    for kind, (label, page) in RESULT_KINDS.items():
        records = sorted(store.records(kind), key=lambda r: r["created_at"], reverse=True)
        for record in records:
            config = record["config"]
            rows.append({
                "result": label,
                "page": page,
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


__all__ = ["RESULT_KINDS", "status_rows", "render_status_markdown", "page_rows", "render_pages_markdown",
           "write_status_page"]
