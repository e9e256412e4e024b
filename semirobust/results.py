"""Results store: one JSON record per (kind, configuration), with provenance.

Every notebook run writes its numbers here; the book's tables and figures are assembled from
the store, so runs done elsewhere (a GPU cluster) can be merged in and rendered.

Layout: ``<root>/<kind>/<config_hash>.json`` where ``config_hash = utils.config_hash({"kind":
kind, "config": config})``. Records are written atomically (temporary file + rename), so an
interrupted run never leaves a half-written record and a rerun of the same configuration
replaces the previous record only once it has succeeded. The kinds the library writes are the members of
:class:`semirobust.names.RecordKind` (``tests/test_names.py`` checks every call site); the store itself takes any
kind name, so a store written by other code (or a test's) stays readable.

A record is a JSON object with the fields ``kind``, ``config``, ``config_hash``, ``metrics``,
``profile``, ``seed``, ``device`` (human readable, GPU name included), ``git_commit`` (or
``"unknown"``), ``versions`` (python, torch, torchvision, torchattacks, pyautoattack, numpy,
semirobust), ``host``, ``created_at`` (UTC ISO 8601), ``wall_time_s``, ``status``
(``"finished"``) and ``extra`` (free-form, may be empty). Records merged from another store
also carry ``merged_from`` (source folder and time of the merge).

Read log: when the environment variable ``SEMIROBUST_READ_LOG`` names a file, every record a store reads or
writes (a page uses what it computed) is appended to it as a JSON line ``{"path": <path relative to the store>,
"sha256": <of the file's bytes>}``. The book sets it for a notebook's kernel, so that the executed page's
provenance names its inputs (:mod:`semirobust.pipeline.book`).
"""
from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import platform
import re
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from semirobust.utils import REPO_ROOT, atomic_write_text, config_hash, default_results_dir

#: distributions whose versions are stamped on every record.
VERSIONED_PACKAGES = ("torch", "torchvision", "torchattacks", "pyautoattack", "numpy", "semirobust")
_KIND_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
#: the environment variable naming the read log (module docstring).
READ_LOG_ENV = "SEMIROBUST_READ_LOG"
_REQUIRED_FIELDS = ("kind", "config", "config_hash", "metrics", "created_at", "status")


def to_jsonable(value):
    """Turn numpy/torch scalars and arrays, paths, tuples and the library's names (:mod:`semirobust.names`, str
    subclasses) into plain JSON values."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"Record keys must be strings, got {key!r} ({type(key).__name__}).")
            out[str(key)] = to_jsonable(item)
        return out
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item) for item in value]
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)  # a StrEnum member as its plain string, the same text in JSON
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "tolist"):  # numpy scalars/arrays, torch tensors
        return to_jsonable(value.tolist())
    raise ValueError(f"Value {value!r} of type {type(value).__name__} cannot be stored in a JSON record.")


def record_hash(kind: str, config: dict) -> str:
    """The hash that names a record: ``config_hash({"kind": kind, "config": config})``."""
    return config_hash({"kind": kind, "config": to_jsonable(config)})


@functools.lru_cache(maxsize=1)
def git_commit() -> str:
    """The commit of the checkout the package runs from (env ``SEMIROBUST_GIT_COMMIT`` wins), or ``"unknown"``."""
    if os.environ.get("SEMIROBUST_GIT_COMMIT"):
        return os.environ["SEMIROBUST_GIT_COMMIT"]
    try:
        out = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


@functools.lru_cache(maxsize=1)
def package_versions() -> dict:
    """Python and the versions of the packages results depend on (``"not installed"`` if absent)."""
    versions = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def describe_device(device) -> str:
    """Human-readable device: ``"cuda:0 (NVIDIA H100 ...)"`` for a GPU, ``"cpu (<processor>)"`` for the CPU."""
    text = str(device)
    if text.startswith("cuda") and "(" not in text:
        try:
            import torch

            if torch.cuda.is_available():
                index = torch.device(text).index
                index = torch.cuda.current_device() if index is None else index
                return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
        except (RuntimeError, ValueError, AssertionError):
            return text
    if text == "cpu":
        processor = platform.processor() or platform.machine()
        return f"cpu ({processor})" if processor else "cpu"
    return text


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _check_kind(kind) -> str:
    if not isinstance(kind, str) or not _KIND_RE.match(kind):
        raise ValueError(f"kind={kind!r} must be a non-empty name of letters, digits, '_', '-' or '.' "
                         "(it becomes a folder of the results store).")
    return kind


def _load(path: Path) -> dict:
    """Read one record, with a clear error naming the file when it is not a record."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is not a readable JSON record: {err}") from err
    missing = [name for name in _REQUIRED_FIELDS if not isinstance(record, dict) or name not in record]
    if missing:
        raise ValueError(f"{path} is not a results record (missing fields: {', '.join(missing)}).")
    return record


def _log_read(root: Path, path: Path) -> None:
    """Append ``path`` (relative to the store ``root``) and the sha256 of its bytes to the read log, if one is set."""
    log = os.environ.get(READ_LOG_ENV)
    if not log:
        return
    entry = {"path": path.resolve().relative_to(root.resolve()).as_posix(),
             "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, sort_keys=True) + "\n")


def read_log(path: str | os.PathLike) -> dict[str, str]:
    """The inputs a read log names: ``{path relative to the store: sha256}`` (the last entry of a path wins)."""
    path = Path(path)
    if not path.exists():
        return {}
    entries = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {entry["path"]: entry["sha256"] for entry in entries}


def _matches(record: dict, filters: dict) -> bool:
    """A filter matches ``config[key]`` (or the record's top-level field when the config lacks it);
    a list/tuple/set value matches any of its members."""
    for key, wanted in filters.items():
        if key in record["config"]:
            value = record["config"][key]
        elif key in record:
            value = record[key]
        else:
            return False
        choices = list(wanted) if isinstance(wanted, (list, tuple, set, frozenset)) else [wanted]
        if value not in to_jsonable(choices):
            return False
    return True


class ResultsStore:
    """A folder of run records, ``<root>/<kind>/<config_hash>.json`` (see the module docstring)."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_results_dir()

    def __repr__(self) -> str:
        return f"ResultsStore({str(self.root)!r})"

    def path(self, kind: str, config: dict) -> Path:
        """Where the record of ``(kind, config)`` lives (whether or not it exists)."""
        return self.root / _check_kind(kind) / f"{record_hash(kind, config)}.json"

    def write(self, kind: str, config: dict, metrics: dict, *, profile: str, seed: int, device,
              wall_time_s: float, extra: dict | None = None) -> dict:
        """Write the finished record of one run atomically and return it."""
        _check_kind(kind)
        if not isinstance(config, dict) or not isinstance(metrics, dict):
            raise ValueError("config and metrics must be dictionaries.")
        if extra is not None and not isinstance(extra, dict):
            raise ValueError("extra must be a dictionary or None.")
        if not isinstance(wall_time_s, (int, float)) or isinstance(wall_time_s, bool) or not math.isfinite(wall_time_s) \
                or wall_time_s < 0:
            raise ValueError(f"wall_time_s={wall_time_s!r} must be a non-negative number of seconds.")
        config = to_jsonable(config)
        record = {
            "kind": str(kind),
            "config": config,
            "config_hash": record_hash(kind, config),
            "metrics": to_jsonable(metrics),
            "profile": str(profile),
            "seed": to_jsonable(seed),
            "device": describe_device(device),
            "git_commit": git_commit(),
            "versions": package_versions(),
            "host": platform.node(),
            "created_at": _utc_now(),
            "wall_time_s": float(wall_time_s),
            "status": "finished",
            "extra": to_jsonable(extra or {}),
        }
        target = self.root / kind / f"{record['config_hash']}.json"
        atomic_write_text(target, json.dumps(record, indent=1, sort_keys=True))
        _log_read(self.root, target)
        return record

    def read(self, kind: str, config: dict) -> dict | None:
        """The record of ``(kind, config)``, or None when that configuration has not finished."""
        path = self.path(kind, config)
        if not path.exists():
            return None
        record = _load(path)
        _log_read(self.root, path)
        return record

    def kinds(self) -> list[str]:
        """Kinds that have at least one record folder."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and _KIND_RE.match(p.name))

    def records(self, kind: str | None = None, **filters) -> list[dict]:
        """All records (of one kind, or of all kinds) matching ``filters``, oldest first."""
        kinds = [_check_kind(kind)] if kind is not None else self.kinds()
        found = []
        for name in kinds:
            folder = self.root / name
            for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
                record = _load(path)
                if _matches(record, filters):
                    _log_read(self.root, path)
                    found.append(record)
        return sorted(found, key=lambda r: (_parse_time(r["created_at"]), r["kind"], r["config_hash"]))

    def find_one(self, kind: str, **filters) -> dict | None:
        """The one record of ``kind`` matching ``filters`` (None when none does). Two records that match are a
        ValueError naming both files: a partial request never picks "the newest" of several runs."""
        found = self.records(kind, **filters)
        if len(found) > 1:
            files = ", ".join(str(self.root / r["kind"] / f"{r['config_hash']}.json") for r in found)
            raise ValueError(f"{len(found)} '{kind}' records match {filters}: {files}; name the run by its whole "
                             "configuration (ResultsStore.read) instead.")
        return found[0] if found else None

    def to_frame(self, kind: str | None = None, **filters):
        """The matching records as a pandas DataFrame with ``config.*``, ``metrics.*`` (and
        ``versions.*``, ``extra.*``) flattened into columns; one row per record."""
        import pandas as pd

        rows = self.records(kind, **filters)
        if not rows:
            return pd.DataFrame(columns=["kind", "config_hash", "profile", "seed", "device", "created_at"])
        return pd.json_normalize(rows, sep=".")


def is_code_version_field(key: str) -> bool:
    """Config fields that name the code (and profile) a record was computed with rather than what was asked:
    ``version``, ``*_version`` (ALGORITHM1_VERSION, ...) and ``profile_hash``."""
    return key == "version" or key.endswith("_version") or key == "profile_hash"


def run_identity(record: dict) -> str:
    """What a record is a run of, whatever code computed it: its kind and config without the code-version
    fields (:func:`is_code_version_field`). Two records with the same identity and different config hashes
    are the same run by different code."""
    config = {k: v for k, v in record["config"].items() if not is_code_version_field(k)}
    return config_hash({"kind": record["kind"], "config": config})


def version_conflicts(incoming: list[dict], dst: ResultsStore) -> list[str]:
    """One line per incoming record whose run the store at ``dst`` already holds under another config hash
    (another code version, profile hash or configuration), naming both records and the fields that differ."""
    held = {}
    for kind in sorted({r["kind"] for r in incoming}):
        for record in dst.records(kind):
            held.setdefault(run_identity(record), []).append(record)
    lines = []
    for record in incoming:
        for other in held.get(run_identity(record), []):
            if other["config_hash"] == record["config_hash"]:
                continue
            keys = sorted(set(record["config"]) | set(other["config"]))
            differ = [f"{k}: {record['config'].get(k)!r} here, {other['config'].get(k)!r} in the store"
                      for k in keys if record["config"].get(k) != other["config"].get(k)]
            lines.append(f"{record['kind']}/{record['config_hash']} against {record['kind']}/{other['config_hash']} "
                         f"({'; '.join(differ)})")
    return lines


def merge_results(src_root: str | os.PathLike, dst_root: str | os.PathLike | None = None, *,
                  keep_both: bool = False) -> dict:
    """Copy every record of the store at ``src_root`` into ``dst_root`` (default: the local store).

    Provenance is kept: a record is copied as it is (its git commit, device, versions, created_at),
    plus ``merged_from`` naming the source folder. On a conflict (same kind and config hash) the
    record with the newest ``created_at`` wins; nothing in ``dst_root`` is ever deleted. A record of
    a run the destination already holds under another config hash (other code: a ``version`` or
    ``profile_hash`` field differs) is refused, naming both, unless ``keep_both``: then both are kept
    as separate runs (and read side by side by whatever reads that kind). All source records are
    checked before anything is written. Returns counts per action and the list of actions taken.
    """
    src = ResultsStore(src_root)
    dst = ResultsStore(dst_root)
    if not src.root.is_dir():
        raise ValueError(f"Source results folder {src.root} does not exist.")
    if src.root.resolve() == dst.root.resolve():
        raise ValueError(f"Source and destination are the same folder ({src.root}); nothing to merge.")
    incoming = src.records()
    for record in incoming:
        expected = record_hash(record["kind"], record["config"])
        if record["config_hash"] != expected:
            raise ValueError(f"Record {record['kind']}/{record['config_hash']} in {src.root} has a config_hash that "
                             f"does not match its config (expected {expected}); refusing to merge a corrupted store.")
    conflicts = version_conflicts(incoming, dst)
    if conflicts and not keep_both:
        raise ValueError(f"{len(conflicts)} record(s) of {src.root} are runs that {dst.root} already holds from other "
                         "code or settings; nothing was merged. Keep both as separate runs with keep_both=True "
                         "(command line: --keep-both), or merge into an empty store:\n  " + "\n  ".join(conflicts))
    summary = {"added": 0, "updated": 0, "unchanged": 0, "kept_newer": 0, "kept_both": len(conflicts), "actions": []}
    merged_at = _utc_now()
    for record in incoming:
        target = dst.root / record["kind"] / f"{record['config_hash']}.json"
        if target.exists():
            current = _load(target)
            new_time, old_time = _parse_time(record["created_at"]), _parse_time(current["created_at"])
            action = "updated" if new_time > old_time else ("unchanged" if new_time == old_time else "kept_newer")
        else:
            action = "added"
        if action in ("added", "updated"):
            copy = dict(record)
            copy["merged_from"] = {"root": str(src.root.resolve()), "merged_at": merged_at}
            if record.get("merged_from"):
                copy["merged_from"]["previous"] = record["merged_from"]
            atomic_write_text(target, json.dumps(copy, indent=1, sort_keys=True))
        summary[action] += 1
        summary["actions"].append({"kind": record["kind"], "config_hash": record["config_hash"], "action": action})
    summary["total"] = len(incoming)
    return summary


__all__ = ["ResultsStore", "READ_LOG_ENV", "read_log", "merge_results", "is_code_version_field", "run_identity",
           "version_conflicts", "record_hash", "to_jsonable", "describe_device", "git_commit", "package_versions"]
