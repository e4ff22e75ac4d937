"""The Typer app and its global options: what every command shares before it runs.

The commands themselves live in raybank.cli.commands and are registered on this app by
raybank.cli.main; running them is raybank.cli.runner's job.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional

import typer

from raybank.domain.errors import InvalidHome

app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None,
    help="A banking simulator on Ray actors: every account is a named, detached actor "
         "whose state survives crashes, kills and restarts.",
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object.")]


def complete_account(ctx: typer.Context, incomplete: str) -> list[str]:
    """Account names from the namespace's folder (shell completion): no Ray, no cluster.

    The global options are parsed but their callback has not run, so --home, --namespace
    and their variables are read from the root context's parameters.
    """
    from raybank.service.namespace import names_starting

    options = ctx.find_root().params
    try:
        home = Path(options.get("home") or "~/.raybank").expanduser().absolute()
    except RuntimeError:  # ~user of no such user
        return []
    return names_starting(home, options.get("namespace") or "raybank", incomplete)


AccountArgument = Annotated[str, typer.Argument(autocompletion=complete_account)]
OpIdOption = Annotated[Optional[str], typer.Option(
    "--op-id", help="Idempotency key: repeating it applies the command once. Default: new UUID.")]


@dataclass(frozen=True)
class Settings:
    home: Path
    address: str | None
    namespace: str
    persistence: str | None
    placement: str | None = None


@app.callback()
def main_options(
    ctx: typer.Context,
    home: Annotated[Path, typer.Option(
        "--home", envvar="RAYBANK_HOME", help="Where raybank keeps its data.",
        show_default="~/.raybank")] = Path("~/.raybank"),
    address: Annotated[Optional[str], typer.Option(
        "--address", envvar="RAY_ADDRESS",
        help="Attach to this Ray cluster (host:port) instead of the embedded one.")] = None,
    namespace: Annotated[str, typer.Option(
        "--namespace", envvar="RAYBANK_NAMESPACE", help="Ray namespace of the accounts.")
    ] = "raybank",
    persistence: Annotated[Optional[str], typer.Option(
        "--persistence", envvar="RAYBANK_PERSISTENCE",
        help="How account actors reach storage in a new namespace: direct (default) or "
             "pool (through a few persistence actors).")] = None,
    placement: Annotated[Optional[str], typer.Option(
        "--placement", envvar="RAYBANK_PLACEMENT",
        help="Where a new namespace's accounts live, fixed at its first account: actor "
             "(default: one actor each) or hosted (many accounts per host actor).")] = None,
) -> None:
    try:
        home = home.expanduser()
    except RuntimeError as error:  # ~user of no such user
        raise InvalidHome(f"invalid home {str(home)!r}: {error}") from None
    ctx.obj = Settings(home=home.absolute(), address=address or None,
                       namespace=namespace, persistence=persistence,
                       placement=placement or None)
