"""``scsnake`` command line: ``run``, ``run-info``, ``summary``, ``validate``, ``schema``, ``provenance``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .errors import ConfigError, ScsnakeError

__all__ = ["main"]


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scsnake", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run one workflow stage (used by the Snakemake rules)")
    run.add_argument("stage")
    run.add_argument(
        "--input", action="append", default=[], type=Path, help="input artifact (repeat for several)"
    )
    run.add_argument("--output", required=True, type=Path, help="artifact (or figures directory) to write")
    run.add_argument("--params", required=True, help="the stage's parameters as JSON")
    run.add_argument("--sample", default=None, help="sample name (load)")
    run.add_argument("--compression", default="none", choices=["none", "gzip", "lzf"])
    run.add_argument("--table", default=None, type=Path, help="markers: also write the top-marker CSV here")
    run.add_argument(
        "--view",
        default=None,
        type=Path,
        help="also write the stage's table as an HTML page (the report shows it)",
    )

    info = sub.add_parser(
        "run-info", help="write a sample's validated config and the package versions (report)"
    )
    info.add_argument("--params", required=True, help="the sample's validated config as JSON")
    info.add_argument("--config", required=True, type=Path, help="config.yaml to write")
    info.add_argument("--versions", required=True, type=Path, help="versions.csv to write")
    info.add_argument("--snakemake", default=None, help="version of the Snakemake running the workflow")

    summary = sub.add_parser(
        "summary", help="write the run summary of the samples and their warnings (report)"
    )
    summary.add_argument(
        "--artifact",
        action="append",
        default=[],
        metavar="SAMPLE=PATH",
        help="an artifact of a sample (repeat; samples in order; missing files are skipped)",
    )
    summary.add_argument("--csv", required=True, type=Path, help="summary.csv to write (one row per sample)")
    summary.add_argument(
        "--html", required=True, type=Path, help="summary.html to write (the report's table)"
    )

    validate = sub.add_parser("validate", help="validate a config file; print every problem")
    validate.add_argument("config", type=Path, nargs="?", default=Path("config/config.yaml"))

    sub.add_parser("schema", help="print the JSON schema of config.yaml")

    prov = sub.add_parser("provenance", help="print how an artifact was made")
    prov.add_argument("artifact", type=Path)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; a user's mistake prints one message and exits 1 (2 for config errors)."""
    args = _build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    logging.captureWarnings(True)
    try:
        return _dispatch(args)
    except ConfigError as err:
        print(f"scsnake: {err}", file=sys.stderr)  # noqa: T201
        return 2
    except ScsnakeError as err:
        print(f"scsnake: error: {err}", file=sys.stderr)  # noqa: T201
        for note in getattr(err, "__notes__", ()):
            print(f"  {note}", file=sys.stderr)  # noqa: T201
        return 1


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "run":
        from .runner import run_stage

        run_stage(
            args.stage,
            inputs=args.input,
            output=args.output,
            params_json=args.params,
            sample=args.sample,
            compression=args.compression,
            table=args.table,
            view=args.view,
        )
    elif args.command == "run-info":
        from .stages._plots import write_run_info

        write_run_info(
            args.params,
            config_path=args.config,
            versions_path=args.versions,
            snakemake_version=args.snakemake,
        )
    elif args.command == "summary":
        from .stages._summary import parse_artifacts, write_summary

        write_summary(parse_artifacts(args.artifact), csv=args.csv, html_path=args.html)
    elif args.command == "validate":
        from .config import load_config

        load_config(args.config)
        print(f"{args.config}: valid")  # noqa: T201
    elif args.command == "schema":
        from .config import config_schema

        print(json.dumps(config_schema(), indent=2, sort_keys=True))  # noqa: T201
    elif args.command == "provenance":
        from .provenance import read_provenance

        print(json.dumps(read_provenance(args.artifact), indent=2))  # noqa: T201
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
