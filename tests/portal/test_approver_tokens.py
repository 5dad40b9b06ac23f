"""``cde contracts approve`` records an identity, never a typed name (issue 33, item 5): it needs the token a
supplier's privacy officer issued in the portal, stored hashed, expiring and revocable."""

from __future__ import annotations

import datetime as dt

import pytest

from jobs.common import settings


@pytest.fixture
def approving(people, lake_root, monkeypatch):
    """A lake with no approvals yet, the portal's accounts, and ``approve(token, supplier, contract)`` running
    the command in this process; returns (exit code, stderr)."""
    from jobs.cli import main

    def approve(token: str | None, supplier: str = "nordic-telco", contract: str = "kk-inner-city-presence",
                *extra: str) -> tuple[int, str]:
        if token is None:
            monkeypatch.delenv("CDE_APPROVER_TOKEN", raising=False)
        else:
            monkeypatch.setenv("CDE_APPROVER_TOKEN", token)
        return main(["contracts", "approve", contract, "--supplier", supplier, *extra])

    return approve


def _officer(name: str):
    from sqlalchemy import select

    from jobs.portal.db import User, session

    with session() as s:
        return s.scalar(select(User).where(User.username == name))


def _approvals(contract_id: str = "kk-inner-city-presence") -> list[dict]:
    from jobs.common import lake
    from jobs.publish.approvals import approvals_path

    if not lake.exists(approvals_path()):
        return []
    return [r for r in lake.read_arrow(approvals_path()).to_pylist() if r["contract_id"] == contract_id]


def test_a_typed_name_without_a_token_is_refused(approving, capsys):
    assert approving(None, "nordic-telco", "kk-inner-city-presence", "--approver", "dpo@nordic-telco.example") == 2
    assert "a typed name is not an identity" in capsys.readouterr().err
    assert approving(None) == 2
    assert "CDE_APPROVER_TOKEN is not set" in capsys.readouterr().err
    assert _approvals() == []


def test_an_officers_token_records_that_officers_identity(approving, capsys):
    from jobs.portal import accounts

    token = accounts.issue_approver_token(_officer("telco-dpo"), "laptop", 30, "test")
    assert token.startswith(accounts.APPROVER_TOKEN_PREFIX)
    assert approving(token) == 0
    assert "by telco-dpo <telco-dpo@example.org>" in capsys.readouterr().out
    (row,) = _approvals()
    assert (row["supplier"], row["approver"], row["approved_as"]) == (
        "nordic-telco", "telco-dpo <telco-dpo@example.org>", "officer")
    # stored only as its hash: the database never holds the token itself
    from jobs.portal.db import ApproverToken, session

    with session() as s:
        stored = [t.token_sha256 for t in s.query(ApproverToken)]
    assert stored == [accounts.token_hash(token)] and token not in stored


def test_another_suppliers_officers_token_is_refused(approving, capsys):
    from jobs.portal import accounts

    token = accounts.issue_approver_token(_officer("movia-dpo"), "", 30, "test")
    assert approving(token, "nordic-telco") == 2
    assert "movia-dpo is a privacy officer of movia-transit, not of nordic-telco" in capsys.readouterr().err
    assert _approvals() == []


def test_a_revoked_or_expired_or_unknown_token_is_refused(approving, capsys):
    from jobs.portal import accounts
    from jobs.portal.db import ApproverToken, session

    officer = _officer("telco-dpo")
    revoked = accounts.issue_approver_token(officer, "old laptop", 30, "test")
    accounts.revoke_approver_token(officer, accounts.token_hash(revoked)[:12], "test")
    assert approving(revoked) == 2
    assert "CDE_APPROVER_TOKEN: revoked at" in capsys.readouterr().err

    expired = accounts.issue_approver_token(officer, "short", 1, "test")
    with session() as s, s.begin():
        s.get(ApproverToken, accounts.token_hash(expired)).expires_at = (
            dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    assert approving(expired) == 2
    assert "CDE_APPROVER_TOKEN: expired at" in capsys.readouterr().err

    assert approving(accounts.APPROVER_TOKEN_PREFIX + "guessed") == 2
    assert "not a token the portal issued" in capsys.readouterr().err
    assert _approvals() == []


def test_only_an_officer_issues_tokens_and_only_for_a_sane_lifetime(people):
    from jobs.portal import accounts
    from jobs.portal.db import PortalRefused

    with pytest.raises(PortalRefused, match="only a supplier's privacy officer"):
        accounts.issue_approver_token(_officer("kk-anna"), "", 30, "test")
    with pytest.raises(PortalRefused, match="1 to 365 days"):
        accounts.issue_approver_token(_officer("telco-dpo"), "", 400, "test")
    assert settings.REGISTRY["CDE_APPROVER_TOKEN"].secret
