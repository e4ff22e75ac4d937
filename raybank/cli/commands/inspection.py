"""The verify command: does every live actor agree with what storage alone rebuilds?"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from raybank.cli.app import JsonOption, complete_account
from raybank.cli.runner import Invocation, run
from raybank.domain.errors import ExitStatus
from raybank.domain.names import validate_name


def verify(ctx: typer.Context,
           name: Annotated[Optional[str], typer.Argument(autocompletion=complete_account)] = None,
           json_: JsonOption = False) -> None:
    """Rebuild accounts from storage alone and compare them with their live actors.

    Exits 1 if any account differs. Example: raybank verify
    """
    def action(inv: Invocation) -> None:
        account = None if name is None else validate_name(name)
        with inv.renderer.tally("verify", "accounts", failed="mismatched") as update:
            result = inv.bank().verify(account, update)
        inv.finish("verify", result, ExitStatus.OK if result.ok else ExitStatus.CHECK_FAILED)

    run(ctx, json_, action)
