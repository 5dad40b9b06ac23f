"""Every option of ``cde`` says what it is and its default (issue 34, operator); ``cde ingest --help`` lists
the feeds."""

from __future__ import annotations

import argparse

import pytest

from jobs.cli import build_parser, main
from jobs.ingest import FEEDS


def _options(parser: argparse.ArgumentParser, name: str = "cde"):
    for action in parser._actions:  # noqa: SLF001 (argparse's own list; no public walk exists)
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for child_name, child in action.choices.items():
                yield from _options(child, f"{name} {child_name}")
        elif action.dest != "help":
            yield name, action


def test_every_option_has_help_and_states_its_default():
    missing = [f"{name} {action.option_strings or action.dest}" for name, action in _options(build_parser())
               if not action.help]
    assert missing == []
    unstated = [f"{name} {action.option_strings}" for name, action in _options(build_parser())
                if action.help != argparse.SUPPRESS and action.default not in (None, False, [])
                and "default" not in action.help]
    assert unstated == []


def test_ingest_help_lists_the_feeds(capsys):
    with pytest.raises(SystemExit):
        main(["ingest", "--help"])
    shown = capsys.readouterr().out
    assert all(feed in shown for feed in FEEDS) and "(default: 0.05)" in shown


def test_a_profile_points_at_the_configured_endpoint_and_a_mismatched_server_warns(lake_root, monkeypatch, capsys):
    """``cde sharing add-recipient`` writes CDE_SHARING_ENDPOINT into the profile (not a fixed port), and
    ``cde share`` on another port says the profiles point elsewhere (issue 34, buyer)."""
    import json

    import jobs.cli as cli

    monkeypatch.setenv("CDE_SHARING_ENDPOINT", "https://share.example.org/delta-sharing")
    assert main(["sharing", "add-recipient", "kobenhavns-kommune"]) == 0
    profile = next((lake_root / "ops" / "sharing_profiles").glob("*.share"))
    assert json.loads(profile.read_text())["endpoint"] == "https://share.example.org/delta-sharing"
    monkeypatch.setattr("jobs.sharing.server.serve", lambda host, port: None)  # not the server itself: its words
    monkeypatch.setenv("CDE_SHARING_ENDPOINT", "http://127.0.0.1:8765/delta-sharing")
    capsys.readouterr()
    assert cli.main(["share", "--port", "9999"]) == 0
    assert "not where this server listens (port 9999)" in capsys.readouterr().err
    assert cli.main(["share", "--port", "8765"]) == 0
    assert "warning" not in capsys.readouterr().err
