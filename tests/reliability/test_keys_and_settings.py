"""The master key is never replaced silently; settings an operator gives are checked."""

from __future__ import annotations

import pytest


@pytest.fixture
def fresh_keys(tmp_path, monkeypatch):
    from jobs.ingest import pseudonym

    monkeypatch.setenv("CDE_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("CDE_SECRETS", str(tmp_path / "secrets"))
    monkeypatch.delenv("CDE_PSEUDONYM_KEY", raising=False)
    monkeypatch.setattr(pseudonym, "_checked", set())
    return tmp_path


def test_a_missing_key_file_is_refused_not_replaced(fresh_keys):
    from jobs.errors import KeyRefused
    from jobs.ingest import pseudonym

    first = pseudonym.token_key("telco")  # first use: key file made, fingerprint recorded
    (fresh_keys / "secrets" / "pseudonym.key").unlink()
    pseudonym._checked.clear()
    with pytest.raises(KeyRefused, match="pseudonym.key is missing.*restore the key file"):
        pseudonym.token_key("telco")
    assert not (fresh_keys / "secrets" / "pseudonym.key").exists()  # no new key was made
    assert first  # (the key of first use)


def test_a_different_or_short_key_is_refused(fresh_keys, monkeypatch):
    from jobs.errors import KeyRefused
    from jobs.ingest import pseudonym

    monkeypatch.setenv("CDE_PSEUDONYM_KEY", "k" * 40)
    pseudonym.token_key("telco")
    monkeypatch.setenv("CDE_PSEUDONYM_KEY", "j" * 40)
    with pytest.raises(KeyRefused, match="not the key this lake was built with"):
        pseudonym.token_key("telco")
    monkeypatch.setenv("CDE_PSEUDONYM_KEY", "short-key")
    with pytest.raises(KeyRefused, match="9 bytes; at least 32"):
        pseudonym.token_key("telco")


@pytest.mark.parametrize("name, text, message", [
    ("CDE_GLOBAL_EPSILON_CAP", "100", "at most 60"),
    ("CDE_GLOBAL_EPSILON_CAP", "lots", "is not a number"),
    ("CDE_GLOBAL_DELTA_CAP", "0", "must be above 0"),
])
def test_caps_are_checked_and_never_looser_than_the_policy(monkeypatch, name, text, message):
    from jobs.common import settings

    monkeypatch.setenv(name, text)
    with pytest.raises(ValueError, match=f"{name}.*{message}"):
        settings.setting(name)


@pytest.mark.parametrize("name, text, allowed, ok", [
    ("CDE_FILE_MODE", "0640", 0o660, True), ("CDE_FILE_MODE", "0644", 0o660, False),
    ("CDE_FILE_MODE", "0400", 0o660, False), ("CDE_DIR_MODE", "0750", 0o770, True),
    ("CDE_DIR_MODE", "0755", 0o770, False), ("CDE_DIR_MODE", "rwx", 0o770, False),
])
def test_permission_modes_are_checked(monkeypatch, name, text, allowed, ok):
    from jobs.common import settings

    monkeypatch.setenv(name, text)
    assert settings.REGISTRY[name].default in ("0640", "0750")  # the registry's check is the one under test
    if ok:
        assert settings.setting(name) == int(text, 8)
    else:
        with pytest.raises(ValueError, match=name):
            settings.setting(name)


@pytest.mark.parametrize("built", ["ledger", "optouts"])
def test_a_lake_built_under_a_key_never_gets_a_new_one_when_key_and_fingerprint_are_both_gone(fresh_keys, built,
                                                                                             monkeypatch):
    import pyarrow as pa

    from jobs.common import lake, tables
    from jobs.errors import KeyRefused
    from jobs.ingest import pseudonym

    table = tables.LEDGER if built == "ledger" else tables.OPTOUTS
    lake.create_arrow(table.path(), pa.Table.from_pylist([], schema=table.schema))
    with pytest.raises(KeyRefused, match=f"built under a key \\({table.qualified} exist\\): restore the key file"):
        pseudonym.token_key("telco")  # the file key is missing: never made for a built lake
    assert not (fresh_keys / "secrets" / "pseudonym.key").exists()
    monkeypatch.setenv("CDE_PSEUDONYM_KEY", "k" * 40)  # a key from the environment, the fingerprint gone
    with pytest.raises(KeyRefused, match=f"no key fingerprint .*{table.qualified}.* not accepted unproven"):
        pseudonym.token_key("telco")
    assert not pseudonym._fingerprint_path().exists()


def test_a_damaged_fingerprint_file_is_refused_naming_it(fresh_keys):
    from jobs.errors import KeyRefused
    from jobs.ingest import pseudonym

    pseudonym.token_key("telco")
    pseudonym._fingerprint_path().write_text('{"fingerprint": ')
    pseudonym._checked.clear()
    with pytest.raises(KeyRefused, match="pseudonym_key_fingerprint.json is damaged .* restore it from backup"):
        pseudonym.token_key("telco")


def test_a_lake_with_only_camera_bronze_still_gets_its_first_key(fresh_keys):
    """Cameras carry no identifier: their bronze, ingested first, shows nothing of a key."""
    import pyarrow as pa

    from jobs.common import lake, tables
    from jobs.ingest import pseudonym

    lake.create_arrow(tables.bronze("camera").path(), pa.table({"event_date": pa.array([], pa.date32())}))
    assert pseudonym.lake_history() == []
    assert pseudonym.token_key("telco") and pseudonym._fingerprint_path().exists()
