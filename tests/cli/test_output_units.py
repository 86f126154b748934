"""Renderers and argument helpers, in-process (pure functions)."""

from __future__ import annotations

import base64
import io

from cli.arguments import join_flag_values
from cli.credentials import raw_or_base64
from cli.output import colorize, render, to_json
from cli.progress import Progress
from cli.resources import flatten


def test_raw_credentials_are_encoded_and_base64_kept():
    assert raw_or_base64("gitops user!") == base64.b64encode(b"gitops user!").decode()
    assert raw_or_base64("Z2l0b3Bz") == "Z2l0b3Bz"  # base64 of "gitops"
    assert raw_or_base64("ghp_token123") == base64.b64encode(b"ghp_token123").decode()
    assert raw_or_base64(None) is None


def test_table_skips_ids_nested_and_null_values_and_pads_columns():
    rows = [{"name": "a", "id": "/x", "nested": {"k": 1}, "items": [1], "none": None, "flag": True},
            {"name": "longer-name", "flag": False}]

    assert render(rows, "table") == ("Flag   Name\n-----  -----------\nTrue   a\nFalse  longer-name\n")


def test_tsv_matches_knack():
    item = {"b": [1, 2], "a": "x", "c": {"k": 1}, "d": None, "e": False}

    assert render(item, "tsv") == "x\t2\t\tNone\tFalse\n"
    assert render("plain", "tsv") == "plain\n"


def test_null_and_none_print_nothing():
    assert render(None, "json") == ""
    assert render({"a": 1}, "none") == ""


def test_jsonc_colours_keys_and_values_only_on_a_terminal():
    text = to_json({"key": "value", "n": 3, "b": True})

    coloured = colorize(text)
    assert "\x1b[94m\"key\"\x1b[0m" in coloured and "\x1b[32m\"value\"\x1b[0m" in coloured
    assert render({"a": 1}, "jsonc", color=False) == to_json({"a": 1}) + "\n"


def test_flatten_lifts_properties_and_adds_the_resource_group():
    resource = {"id": "/subscriptions/s/resourceGroups/Rg1/providers/p/t/n", "name": "n",
                "properties": {"repositoryUrl": "u"}}

    assert flatten(resource) == {"id": resource["id"], "name": "n", "repositoryUrl": "u", "resourceGroup": "Rg1"}


def test_flag_valued_options_are_joined():
    assert join_flag_values(["--operator-params", "--git-readonly", "-n", "x"]) == [
        "--operator-params=--git-readonly", "-n", "x"]


class Terminal(io.StringIO):
    """A stream that says it is a terminal, as stderr does in an interactive shell."""

    def isatty(self) -> bool:
        return True


def test_progress_spins_on_a_terminal_and_writes_lines_otherwise():
    terminal, log = Terminal(), io.StringIO()
    spinner, plain = Progress(stream=terminal), Progress(stream=log)
    for state in ("status=InProgress", "status=InProgress", "status=Deleting"):
        spinner.update(state)
        plain.update(state)
    spinner.done()

    assert terminal.getvalue().count("Running ..") == 3 and terminal.getvalue().endswith("\r\x1b[K")
    assert log.getvalue().splitlines() == ["waiting: status=InProgress (0s)", "waiting: status=Deleting (0s)"]
    quiet = io.StringIO()
    Progress(stream=quiet, quiet=True).update("x")
    assert quiet.getvalue() == ""
