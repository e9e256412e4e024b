"""The ``semirobust`` command line: ``run`` one notebook, ``sweep`` a grid, ``merge-results``.

Examples::

    semirobust run notebooks/table1.ipynb out.ipynb -p model vgg16 -p dataset digits
    semirobust sweep grids/smoke.yaml --dry-run
    semirobust sweep grids/smoke.yaml --workers 2 --retries 1
    semirobust sweep grids/table1.yaml --executor slurm --partition gpu --gpus-per-job 1 --time-min 720
    semirobust merge-results /path/to/cluster/results --into results

Exit status: 0 success, 1 some sweep cells failed (or the notebook failed), 2 bad input
(nothing was run), 130 interrupted (rerun the same command to resume a sweep).
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path


def parse_value(text: str):
    """Papermill's ``-p`` typing: True/False/None, then int, then float, else the string itself."""
    if text in ("True", "False"):
        return text == "True"
    if text == "None":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _key_value(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    key, value = text.split("=", 1)
    return key, parse_value(value)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="semirobust", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="execute one notebook with parameters (papermill)")
    run.add_argument("input", help="source notebook, e.g. notebooks/table1.ipynb")
    run.add_argument("output", help="executed notebook to write")
    run.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                     help="set a parameter (typed like papermill: True/False/None, int, float, else string)")
    run.add_argument("-k", "--kernel", default=None, help="Jupyter kernel name (default: the notebook's)")
    run.add_argument("--results", default=None, help="results store the notebook writes to (sets SEMIROBUST_RESULTS)")

    sweep = sub.add_parser("sweep", help="run every cell of a grid file (resumable)")
    sweep.add_argument("grid", help="grid file (YAML), e.g. grids/smoke.yaml")
    sweep.add_argument("--executor", choices=("local", "submitit-local", "slurm"), default="local")
    sweep.add_argument("--workers", type=int, default=1, help="cells run at once (local executors; default 1)")
    sweep.add_argument("--retries", type=int, default=1, help="extra attempts for a failing cell (default 1)")
    sweep.add_argument("--dry-run", action="store_true", help="list cells with state and rough cost; run nothing")
    sweep.add_argument("--out", default=None, help="folder for executed notebooks and logs (default sweeps/<grid name>)")
    sweep.add_argument("--results", default=None, help="results store (default $SEMIROBUST_RESULTS or <repo>/results)")
    sweep.add_argument("--kernel", default=None, help="Jupyter kernel name (default: the notebook's)")
    sweep.add_argument("--no-progress", action="store_true", help="no progress bar")
    slurm = sweep.add_argument_group("slurm (override the grid file's slurm section)")
    slurm.add_argument("--partition", default=None)
    slurm.add_argument("--gpus-per-job", type=int, default=None)
    slurm.add_argument("--cpus-per-job", type=int, default=None)
    slurm.add_argument("--time-min", type=int, default=None, help="time limit per job, minutes")
    slurm.add_argument("--mem-gb", type=float, default=None)
    slurm.add_argument("--array-parallelism", type=int, default=None, help="array tasks running at once")
    slurm.add_argument("--sbatch", type=_key_value, action="append", default=[], metavar="KEY=VALUE",
                       help="extra sbatch option (slurm_additional_parameters), e.g. --sbatch account=myproj")
    slurm.add_argument("--setup", action="append", default=None, metavar="LINE",
                       help="shell line run before each job, e.g. 'source .venv/bin/activate'")

    merge = sub.add_parser("merge-results", help="merge another results store (e.g. from a cluster) into this one")
    merge.add_argument("src", help="results folder to copy records from")
    merge.add_argument("--into", default=None, help="destination store (default $SEMIROBUST_RESULTS or <repo>/results)")
    merge.add_argument("--keep-both", action="store_true",
                       help="keep records of runs the store already holds from other code (another version or "
                            "profile hash) as separate runs instead of refusing them")
    return parser


def _cmd_run(args) -> int:
    import papermill

    from semirobust.pipeline.sweep import notebook_parameters
    from semirobust.utils import check_output_dir

    source = Path(args.input)
    if source.suffix != ".ipynb" or not source.is_file():
        raise ValueError(f"Notebook {source} does not exist.")
    params = {name: parse_value(value) for name, value in args.parameter}
    known = notebook_parameters(source)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(f"Unknown parameter(s) {unknown} for {source.name}; its parameters cell defines: "
                         f"{', '.join(known) or 'nothing (no cell tagged parameters)'}.")
    output = Path(args.output)
    check_output_dir(output.parent, "output")
    if args.results:
        os.environ["SEMIROBUST_RESULTS"] = str(check_output_dir(Path(args.results), "--results").resolve())
    # executed under a temporary name and renamed once it finished: an interrupted run leaves no notebook at
    # the output path that looks complete
    partial = output.with_name(f".{output.name}.partial.ipynb")
    try:
        papermill.execute_notebook(str(source), str(partial), parameters=params, kernel_name=args.kernel)
    except papermill.PapermillExecutionError as err:
        failed = output.with_name(f"{output.stem}.failed.ipynb")
        os.replace(partial, failed)
        print(f"notebook failed: {err.ename}: {err.evalue} (executed notebook with the error: {failed})",
              file=sys.stderr)
        return 1
    os.replace(partial, output)
    print(f"wrote {output}")
    return 0


def _cmd_sweep(args) -> int:
    from semirobust.pipeline.sweep import format_plan, format_summary, load_grid, plan, run_sweep, slurm_parameters
    from semirobust.results import ResultsStore

    grid = load_grid(args.grid)
    out = Path(args.out) if args.out else Path("sweeps") / grid.name
    overrides = {"partition": args.partition, "gpus_per_job": args.gpus_per_job, "cpus_per_job": args.cpus_per_job,
                 "time_min": args.time_min, "mem_gb": args.mem_gb, "array_parallelism": args.array_parallelism,
                 "setup": args.setup,
                 "additional_parameters": {**grid.slurm.get("additional_parameters", {}), **dict(args.sbatch)} or None}
    slurm = {k: v for k, v in overrides.items() if v is not None}
    slurm_parameters({**grid.slurm, **slurm}, {}, "check")  # validate before anything runs
    if args.dry_run:
        print(format_plan(plan(grid, ResultsStore(args.results), out)))
        return 0
    previous = signal.signal(signal.SIGTERM, _interrupt)  # a killed sweep stops its workers; rerun resumes
    try:
        rows = run_sweep(grid, executor=args.executor, workers=args.workers, retries=args.retries, out_dir=out,
                         results_root=args.results, kernel=args.kernel, slurm=slurm, progress=not args.no_progress)
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(format_summary(rows))
    return 1 if any(row["state"] == "failed" for row in rows) else 0


def _cmd_merge(args) -> int:
    from semirobust.results import ResultsStore, merge_results

    summary = merge_results(args.src, args.into, keep_both=args.keep_both)
    dst = ResultsStore(args.into).root
    both = f", {summary['kept_both']} kept beside a run of other code (--keep-both)" if summary["kept_both"] else ""
    print(f"merged {summary['total']} records from {args.src} into {dst}: {summary['added']} added, "
          f"{summary['updated']} updated (newer), {summary['unchanged']} unchanged, "
          f"{summary['kept_newer']} kept (destination newer){both}; nothing deleted.")
    return 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``semirobust`` console script."""
    args = build_parser().parse_args(argv)
    command = {"run": _cmd_run, "sweep": _cmd_sweep, "merge-results": _cmd_merge}[args.command]
    try:
        return command(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished cells are kept, rerun the same command to do only what is missing.",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["parse_value", "build_parser", "main"]
