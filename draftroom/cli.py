"""The ``draftroom`` command."""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

from draftroom import cli_export, cli_import, cli_search, cli_users
from draftroom.config import Settings, env_name, settings_from


def _add_settings_options(parser: argparse.ArgumentParser) -> None:
    for f in fields(Settings):
        flag = "--" + f.name.replace("_", "-")
        help_text = f"{f.metadata.get('help', '')} (env {env_name(f.name)}; default {f.default})"
        if "bool" in str(f.type):
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=None, help=help_text
            )
        else:
            kind: Any = {"int": int, "float": float, "Path": Path}.get(str(f.type), str)
            parser.add_argument(
                flag, type=kind, default=None, choices=f.metadata.get("choices"), help=help_text
            )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="draftroom", description="Real-time collaborative writing server."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the server (embedded SQLite unless --database-url)")
    _add_settings_options(serve)
    cli_export.add_parser(sub)
    cli_import.add_parser(sub)
    cli_users.add_parser(sub)
    cli_search.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        try:
            settings = settings_from(vars(args))
        except ValueError as exc:
            print(f"draftroom: {exc}", file=sys.stderr)
            return 2
        from draftroom.auth.service import settings_problem

        if problem := settings_problem(settings):
            print(f"draftroom: {problem}", file=sys.stderr)
            return 2
        return serve(settings)
    if args.command == "export":
        return cli_export.main(args)
    if args.command == "import":
        return cli_import.main(args)
    if args.command == "user":
        return cli_users.main(args)
    if args.command == "reindex":
        return cli_search.main(args)
    return 2


def serve(settings: Settings) -> int:
    from draftroom.server.runner import run
    from draftroom.telemetry.logs import setup_logging

    setup_logging(settings.log_level, settings.log_format)
    run(settings)
    return 0
