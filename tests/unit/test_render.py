"""The one renderer: human tables on a fixed-width, colour-free console; JSON without markup."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from decimal import Decimal as D

from raybank.domain.errors import CallTimeout, InsufficientFunds
from raybank.cli.render import Renderer
from raybank.service import results

ACTOR = {"state": "ALIVE", "pid": 4242, "node_id": "c6bd7da6ffff", "restarts": 1}


def render(view: str, payload: dict, json_mode: bool = False) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    renderer = Renderer(json_mode, out, err)
    renderer.console.width = 100  # fixed width; StringIO is no terminal, so no colour
    renderer.result(view, payload)
    return out.getvalue(), err.getvalue()


def test_accounts_table_shows_each_column_and_calls_one_per_line():
    payload = {"accounts": [{"name": "alice", "balance": D("95.00"), "min_balance": D("20.00"),
                             "actor": ACTOR, "calls": {"summary": 3, "hold": 1}}]}
    text, _ = render("accounts", payload)
    assert "\x1b[" not in text
    row = next(line for line in text.splitlines() if "alice" in line)
    for cell in ("95.00", "20.00", "ALIVE", "4242", "c6bd7da6", "hold 1"):
        assert cell in row, cell
    assert any("summary 3" in line and "alice" not in line for line in text.splitlines())


def test_an_80_column_terminal_never_cuts_money_short():
    # Eight columns on 80: a balance too wide wraps onto a second line instead of "1234567…".
    row = {"name": "a-rather-long-account-name", "balance": D("123456789.00"),
           "min_balance": D("-20.00"), "actor": ACTOR,
           "calls": {"summary": 3, "hold": 1, "transfer_out": 1}}
    out, err = io.StringIO(), io.StringIO()
    renderer = Renderer(False, out, err)
    renderer.console.width = 80
    renderer.result("accounts", {"accounts": [row]})
    text = out.getvalue()
    assert "123456789" in text and ".00" in text
    assert all(len(line) <= 80 for line in text.splitlines())


def test_json_mode_prints_one_object_with_money_as_strings_and_no_markup():
    payload = {"name": "bob", "balance": D("-5"), "min_balance": D("-10.50")}
    text, err = render("account", payload, json_mode=True)
    assert text.count("\n") == 1 and err == ""
    assert json.loads(text) == {"name": "bob", "balance": "-5.00", "min_balance": "-10.50"}


def test_errors_go_to_stderr_for_people_and_to_stdout_as_json():
    error = InsufficientFunds("insufficient funds in 'bob'")
    out, err = io.StringIO(), io.StringIO()
    Renderer(False, out, err).error(error)
    assert out.getvalue() == "" and "Error: insufficient funds" in err.getvalue()
    out, err = io.StringIO(), io.StringIO()
    Renderer(True, out, err).error(error)
    assert json.loads(out.getvalue()) == {"error": {"code": "insufficient-funds",
                                                    "message": "insufficient funds in 'bob'"}}


def test_kill_view_says_whether_the_state_was_recovered():
    before = {"name": "a", "balance": D("1.00"), "min_balance": D("0"), "actor": ACTOR}
    after = {**before, "actor": {**ACTOR, "pid": 4343, "restarts": 2}}
    text, _ = render("kill", {"name": "a", "before": before, "after": after, "restarted": True,
                              "recovered": True})
    assert "4242" in text and "4343" in text and "State recovered from storage." in text


def test_json_output_does_not_import_rich():
    # Scripts call `raybank ... --json` thousands of times; rich is for people only.
    script = (
        "import io, sys\n"
        "from decimal import Decimal\n"
        "from raybank.cli.render import Renderer\n"
        "from raybank.domain.errors import InsufficientFunds\n"
        "renderer = Renderer(True, io.StringIO(), io.StringIO())\n"
        "renderer.result('account', {'name': 'a', 'balance': Decimal(1), 'min_balance': 0})\n"
        "renderer.error(InsufficientFunds('no'))\n"
        "with renderer.progress('x') as step:\n"
        "    step(1, 2)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'rich'))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"


def test_typed_results_are_drawn_and_printed_as_the_contracts_objects():
    history = results.History.from_contract({"name": "a", "events": [
        {"seq": 1, "op_id": "o", "type": "created", "amount": None, "balance": "5.00",
         "at": "2026-11-22T00:00:00.000000+00:00"},
        {"seq": 2, "op_id": "p", "type": "deposit", "amount": "2.50", "balance": "7.50",
         "at": "2026-11-22T00:00:01.000000+00:00"}]})
    text, _ = render("history", history)
    row = next(line for line in text.splitlines() if " p" in line and "deposit" in line)
    assert "2.50" in row and "7.50" in row
    printed, _ = render("history", history, json_mode=True)
    assert json.loads(printed)["events"][1] == {
        "seq": 2, "op_id": "p", "type": "deposit", "amount": "2.50", "balance": "7.50",
        "at": "2026-11-22T00:00:01.000000+00:00"}


def test_user_text_is_never_read_as_markup():
    # An address is the user's own text (--address); rich would take "[/x]" for a tag.
    text, _ = render("status", {"running": True, "address": "[/x]:[bold]1", "namespace": "n",
                                "accounts": 0, "placement": "actor"})
    assert "[/x]:[bold]1" in text
    event = {"seq": 1, "at": "2026-11-22T00:00:00+00:00", "type": "deposit",
             "amount": D("1.00"), "balance": D("1.00"), "op_id": "[red]op"}
    text, _ = render("history", {"name": "[b]a", "events": [event]})
    assert "[red]op" in text and "[b]a" in text
    text, _ = render("transfer", {"transfer_id": "[/t]", "amount": D("1"),
                                  "from": {"name": "a", "balance": D(0), "min_balance": D(0)},
                                  "to": {"name": "b", "balance": D(1), "min_balance": D(0)}})
    assert "[/t]" in text
    out, err = io.StringIO(), io.StringIO()
    Renderer(False, out, err).error(InsufficientFunds("refused '[/x]'"))
    assert "refused '[/x]'" in err.getvalue()


def test_errors_of_mutating_commands_name_their_op_id_in_both_modes():
    error = CallTimeout("actor 'bob' did not answer").about("op-7")
    out, err = io.StringIO(), io.StringIO()
    Renderer(True, out, err).error(error)
    assert json.loads(out.getvalue()) == {"error": {
        "code": "timeout", "op_id": "op-7", "may_have_applied": True,
        "message": "actor 'bob' did not answer (op id op-7: it may have been applied; "
                   "repeat with --op-id op-7 to apply it exactly once)"}}
    out, err = io.StringIO(), io.StringIO()
    Renderer(False, out, err).error(error)
    assert out.getvalue() == "" and "repeat with --op-id op-7" in err.getvalue()
    refused = InsufficientFunds("no").about("t-1", transfer_id="t-1")
    out = io.StringIO()
    Renderer(True, out, io.StringIO()).error(refused)
    assert json.loads(out.getvalue())["error"] == {
        "code": "insufficient-funds", "message": "no (op id t-1)", "op_id": "t-1",
        "transfer_id": "t-1", "may_have_applied": False}


def test_env_lines_survive_a_shell_and_a_narrow_terminal():
    """`eval "$(raybank env)"` must get every value back exactly, however long or odd."""
    values = {"RAY_ADDRESS": "127.0.0.1:6379", "RAY_AUTH_MODE": "token",
              "RAY_AUTH_TOKEN_PATH": "/tmp/it's a [b]very[/b] long $HOME path/" + "x" * 90,
              "RAYBANK_NAMESPACE": "raybank"}
    out = io.StringIO()
    Renderer(False, out, io.StringIO(), width=40, force_terminal=True).result("env", values)
    script = out.getvalue() + 'printf "%s\\n" "$RAY_ADDRESS" "$RAY_AUTH_MODE" ' \
        '"$RAY_AUTH_TOKEN_PATH" "$RAYBANK_NAMESPACE" "${RAY_AUTH_TOKEN-unset}"'
    done = subprocess.run(["bash", "-c", script], env={"RAY_AUTH_TOKEN": "shadowing"},
                          capture_output=True, text=True, check=True)
    assert done.stdout.splitlines() == [*values.values(), "unset"]


def test_json_written_piece_by_piece_is_the_same_bytes_as_one_dump():
    """`accounts --json` of a big bank is written row by row: the bytes must not change."""
    from raybank.cli.render import to_json, write_json

    payloads = [
        {"accounts": [{"name": "a", "balance": D("1.50"), "calls": {"x": 1}},
                      {"name": "b\u2028é", "actor": None}], "total": D("3"),
         "count": 2, "shown": 2, "empty": []},
        {"accounts": []}, [1, "two"], {},
    ]
    for payload in payloads:
        out = io.StringIO()
        write_json(out, payload)
        assert out.getvalue() == to_json(payload)


def test_a_listing_too_long_for_a_table_prints_one_plain_line_per_account():
    from raybank.cli.views import TABLE_ROWS

    rows = [{"name": f"a{i:05d}", "balance": D("1.00"), "min_balance": D("0.00"),
             "actor": ACTOR} for i in range(TABLE_ROWS + 1)]
    payload = {"accounts": rows, "total": D(TABLE_ROWS + 1), "count": TABLE_ROWS + 1,
               "shown": TABLE_ROWS + 1}
    text, _ = render("accounts", payload)
    lines = [line for line in text.splitlines() if line.startswith("a0")]
    assert len(lines) == TABLE_ROWS + 1
    assert lines[0].split() == ["a00000", "1.00", "0.00", "ALIVE", "4242", "c6bd7da6", "1"]
    assert text.rstrip().endswith(f"{TABLE_ROWS + 1} accounts, total {TABLE_ROWS + 1}.00")
