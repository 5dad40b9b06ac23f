"""The Delta Sharing server on loopback, read by the official ``delta-sharing`` client: the buyer's rows are
the delivered rows, other buyers and bad tokens are refused, reads reach the audit, the API survives a fuzz
run, and an ended contract leaves the catalog, loses its token and is purged after its retention."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pandas as pd
import pytest

pytestmark = [pytest.mark.spark, pytest.mark.integration, pytest.mark.slow]
DAY = dt.date(2026, 3, 3)  # the shared simulated day (conftest.py)
CONTRACT, BUYER, OTHER_BUYER = "kk-inner-city-presence", "kobenhavns-kommune", "nordisk-retail"


@pytest.fixture(scope="module")
def server(spark, simulated_day, tmp_path_factory, lake_copier, loopback):
    """A private lake with one delivered contract, the sharing server on loopback and two recipients."""
    from jobs.publish.deliver import publish
    from jobs.publish.portfolio import find_contract
    from jobs.publish.recipients import add_recipient
    from jobs.sharing.server import create_app

    root = lake_copier(Path(simulated_day.root), tmp_path_factory.mktemp("sharing") / "lake")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CDE_LAKE", str(root))
        result = publish(spark, find_contract(CONTRACT), DAY)
        app = create_app()
        with loopback(app, "sharing server") as url:
            endpoint = f"{url}/delta-sharing"
            profiles = {buyer: add_recipient(buyer, endpoint, days=30) for buyer in (BUYER, OTHER_BUYER)}
            yield {"root": root, "endpoint": endpoint, "app": app, "profiles": profiles, "result": result,
                   "spark": spark}


def _token(profile: Path) -> str:
    return json.loads(profile.read_text())["bearerToken"]


def _get(server, path: str, token: str | None = None, method: str = "GET", **kwargs):
    import requests

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, server["endpoint"] + path, headers=headers, timeout=30, **kwargs)


def test_the_official_client_reads_exactly_the_delivered_rows(server):
    import delta_sharing

    profile = str(server["profiles"][BUYER])
    client = delta_sharing.SharingClient(profile)
    tables = {(t.share, t.schema, t.name) for t in client.list_all_tables()}
    # the buyer's delivered contract; kk-traffic-od is the buyer's too, but nothing was delivered yet
    assert tables == {(BUYER, "products", CONTRACT)}
    shared = delta_sharing.load_as_pandas(f"{profile}#{BUYER}.products.{CONTRACT}")
    delivered = pd.read_parquet(Path(server["result"]["outbox"]) / "data.parquet")
    assert len(shared) == len(delivered) > 0
    columns = [c for c in delivered.columns if c in shared.columns]
    assert {"h3_cell", "value", "suppressed"} <= set(columns)
    keys = ["h3_cell", "bin_start"]

    def canonical(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame[columns].copy()
        frame["bin_start"] = pd.to_datetime(frame["bin_start"]).dt.tz_localize(None)
        return frame.sort_values(keys).reset_index(drop=True)

    pd.testing.assert_frame_equal(canonical(shared), canonical(delivered), check_dtype=False)
    # values below k are never in the table: suppressed rows carry no value
    assert shared.loc[shared["suppressed"], "value"].isna().all()
    # integers stay integers through the pandas client, nulls and all (not float64: 674.0)
    schema = json.loads(delta_sharing.get_table_metadata(f"{profile}#{BUYER}.products.{CONTRACT}").schema_string)
    integers = [f["name"] for f in schema["fields"] if f["type"] in ("long", "integer", "short", "byte")]
    assert "value" in integers and shared["value"].isna().any()
    assert {name: str(shared[name].dtype) for name in integers} == {
        name: {"long": "Int64", "integer": "Int32", "short": "Int16", "byte": "Int8"}[kind]
        for name, kind in ((f["name"], f["type"]) for f in schema["fields"]) if name in integers}
    # time travel: the version the server reports reads the same rows
    version = delta_sharing.get_table_version(f"{profile}#{BUYER}.products.{CONTRACT}")
    assert version >= 0
    again = delta_sharing.load_as_pandas(f"{profile}#{BUYER}.products.{CONTRACT}", version=version)
    assert len(again) == len(shared)


def test_a_delivery_without_its_audit_or_outbox_folder_is_never_served(server):
    """gold/<contract> is written before the delivery's audit and swap: until both exist (a crash between
    them), the server serves none of that delivery's rows."""
    import delta_sharing

    from jobs.common import paths

    profile = str(server["profiles"][BUYER])
    delivery = server["result"]["delivery_id"]
    audit = paths.audit_dir(CONTRACT) / f"{delivery}.json"
    outbox = Path(server["result"]["outbox"])
    url = f"{profile}#{BUYER}.products.{CONTRACT}"
    for hidden in (audit, outbox):
        aside = hidden.with_name(hidden.name + ".aside")
        hidden.rename(aside)
        try:
            assert len(delta_sharing.load_as_pandas(url)) == 0
        finally:
            aside.rename(hidden)
    assert len(delta_sharing.load_as_pandas(url)) > 0


def test_every_refusal_is_the_right_status(server):
    import requests

    token, other = _token(server["profiles"][BUYER]), _token(server["profiles"][OTHER_BUYER])
    table = f"/shares/{BUYER}/schemas/products/tables/{CONTRACT}"
    assert _get(server, f"{table}/metadata", token).status_code == 200
    # no token, a wrong token, another buyer's share: 401, 401, 404 (a share's existence is not revealed)
    assert _get(server, f"{table}/metadata").status_code == 401
    assert _get(server, f"{table}/metadata", "not-a-token").status_code == 401
    assert _get(server, f"{table}/metadata", other).status_code == 404
    assert _get(server, f"/shares/{OTHER_BUYER}/all-tables", token).status_code == 404
    # the other buyer sees its own share, with nothing delivered in it
    assert _get(server, f"/shares/{OTHER_BUYER}/all-tables", other).json()["items"] == []
    # internal tables have no name here, and names that try to climb out are not found
    for name in ("releases", "ledger", "silver", "..", "%2e%2e", "kk-inner-city-presence%2F..%2Freleases"):
        status = _get(server, f"/shares/{BUYER}/schemas/products/tables/{name}/metadata", token).status_code
        assert status in (400, 404), (name, status)
    assert _get(server, f"/shares/{BUYER}/schemas/gold/tables/releases/metadata", token).status_code == 404
    # change data and starting versions are refused with 400, not 500
    assert _get(server, f"{table}/changes?startingVersion=0", token).status_code == 400
    assert _get(server, f"{table}/query", token, "POST", json={"startingVersion": 0}).status_code == 400
    assert _get(server, f"{table}/query", token, "POST", json={"version": 10_000}).status_code == 400
    # a signed file URL works, a tampered or expired one is 403
    lines = [json.loads(x) for x in _get(server, f"{table}/query", token, "POST", json={}).text.splitlines()]
    url = next(x["file"]["url"] for x in lines if "file" in x)
    assert requests.get(url, timeout=30).content[:4] == b"PAR1"
    body, signature = url.rsplit("/", 1)[1].split(".")
    assert requests.get(url.replace(signature, signature[::-1]), timeout=30).status_code == 403
    from jobs.sharing.server import sign_file, url_key

    expired = sign_file(url_key(), CONTRACT, "x.parquet", int(time.time()) - 1)
    assert requests.get(url.rsplit("/", 1)[0] + "/" + expired, timeout=30).status_code == 403
    climbing = sign_file(url_key(), CONTRACT, "../releases/_delta_log/00000000000000000000.json",
                         int(time.time()) + 60)
    assert requests.get(url.rsplit("/", 1)[0] + "/" + climbing, timeout=30).status_code == 403


def test_a_damaged_recipients_file_is_named_and_answered_503_never_500(server, capsys):
    from jobs.cli import main
    from jobs.publish.recipients import recipients_path

    path = recipients_path()
    good = path.read_bytes()
    token = _token(server["profiles"][BUYER])
    try:
        for damage in (b'{"recipients": [', b'{"recipients": [{"buyer": 3}]}', b"\xff\xfe"):
            path.write_bytes(damage)
            answer = _get(server, "/shares", token)
            assert answer.status_code == 503 and answer.json()["errorCode"] == "TEMPORARILY_UNAVAILABLE", answer.text
            assert main(["sharing", "list"]) == 1
            err = capsys.readouterr().err
            assert "ops/sharing_recipients.json" in err and "cannot be read" in err and "Traceback" not in err
    finally:
        path.write_bytes(good)
    assert _get(server, "/shares", token).status_code == 200


def test_an_expired_or_revoked_token_is_refused(server):
    from jobs.publish import recipients

    profile = recipients.add_recipient(OTHER_BUYER, server["endpoint"], days=1)
    token = _token(profile)
    path = f"/shares/{OTHER_BUYER}/all-tables"
    assert _get(server, path, token).status_code == 200
    rows = recipients.read_recipients()
    live = next(r for r in rows if r["token_sha256"] == recipients.token_hash(token))
    live["expires_at"] = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)).isoformat()
    recipients._write(rows)
    assert _get(server, path, token).status_code == 401
    profile = recipients.add_recipient(OTHER_BUYER, server["endpoint"], days=1)
    token = _token(profile)
    assert _get(server, path, token).status_code == 200
    assert recipients.revoke(OTHER_BUYER) == 1 and not profile.exists()
    assert _get(server, path, token).status_code == 401
    server["profiles"][OTHER_BUYER] = recipients.add_recipient(OTHER_BUYER, server["endpoint"], days=30)


def test_reads_reach_the_next_audit(server):
    from jobs.publish.deliver import publish
    from jobs.publish.portfolio import find_contract
    from jobs.publish.recipients import reads_of

    reads = reads_of(CONTRACT)
    assert {r["request"] for r in reads} >= {"metadata", "query"} and {r["buyer"] for r in reads} == {BUYER}
    result = publish(server["spark"], find_contract(CONTRACT), DAY)
    audit = json.loads(Path(result["audit"]["json"]).read_text())
    assert audit["sharing_reads"]["total"] == len(reads) and audit["sharing_reads"]["recipients"] == [BUYER]
    assert "Delta Sharing reads" in Path(result["audit"]["html"]).read_text()


def test_refused_requests_are_logged_without_tokens_and_counted_in_the_next_audit(server):
    """Every 401, 403 and 404 is a line of ops/sharing_refusals.jsonl (time, status, path, table, the token's
    fingerprint, address), and the product's next audit counts them (issue 34, buyer)."""
    from jobs.publish.deliver import publish
    from jobs.publish.portfolio import find_contract
    from jobs.publish.recipients import refusals_path
    from jobs.publish.recipients import token_hash as fingerprint

    other = _token(server["profiles"][OTHER_BUYER])
    table = f"/shares/{BUYER}/schemas/products/tables/{CONTRACT}"
    before = refusals_path().read_text().count("\n") if refusals_path().exists() else 0
    assert _get(server, f"{table}/metadata").status_code == 401
    assert _get(server, f"{table}/metadata", other).status_code == 404
    assert _get(server, "/shares/nobody/all-tables", "not-a-token").status_code == 401
    lines = [json.loads(x) for x in refusals_path().read_text().splitlines()[before:]]
    assert [(r["status"], r["table"]) for r in lines] == [(401, CONTRACT), (404, CONTRACT), (401, None)]
    assert lines[1]["token"] == fingerprint(other)[:12] and other not in refusals_path().read_text()
    result = publish(server["spark"], find_contract(CONTRACT), DAY)
    audit = json.loads(Path(result["audit"]["json"]).read_text())
    refused = audit["sharing_refusals"]
    assert refused["total"] >= 2 and refused["by_status"]["401"] >= 1 and refused["by_status"]["404"] >= 1
    assert refused["unattributed"] >= 1
    assert "Refused Delta Sharing requests" in Path(result["audit"]["html"]).read_text()


def test_a_redelivery_killed_before_its_swap_serves_only_what_the_published_audit_names(server, monkeypatch):
    """A redelivery overwrites the delivery's gold partition before its audit and swap; killed between them,
    the old audit and outbox are still in place but name other files, so none of the new rows are served
    until the rerun publishes the audit that describes them."""
    import delta_sharing

    from jobs.common import faults, paths
    from jobs.publish.deliver import publish
    from jobs.publish.portfolio import find_contract

    profile = str(server["profiles"][BUYER])
    url = f"{profile}#{BUYER}.products.{CONTRACT}"
    delivery = server["result"]["delivery_id"]
    served = len(delta_sharing.load_as_pandas(url))

    def crash(name: str) -> None:
        if name == "deliver.swap":
            raise RuntimeError("injected crash at deliver.swap")

    monkeypatch.setattr(faults, "HOOK", crash)
    with pytest.raises(RuntimeError):
        publish(server["spark"], find_contract(CONTRACT), DAY)
    monkeypatch.setattr(faults, "HOOK", None)
    named = json.loads((paths.audit_dir(CONTRACT) / f"{delivery}.json").read_text())["delivery"]["gold_files"]
    assert named and len(delta_sharing.load_as_pandas(url)) == 0  # the new files are not the audited ones
    again = publish(server["spark"], find_contract(CONTRACT), DAY)
    audit = json.loads(Path(again["audit"]["json"]).read_text())
    assert set(audit["delivery"]["gold_files"]).isdisjoint(named)
    assert len(delta_sharing.load_as_pandas(url)) == served


def test_the_api_survives_a_bounded_fuzz_run(server):
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    token = _token(server["profiles"][BUYER])
    schema = schemathesis.openapi.from_url(server["endpoint"].rsplit("/", 1)[0] + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9
    statuses: list[int] = []
    for operation in operations:
        @settings(max_examples=30, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def call(case):
            # half the calls as the buyer, the rest with no token: neither may ever get a 5xx
            headers = {"Authorization": f"Bearer {token}"} if len(statuses) % 2 == 0 else {}
            response = case.call(base_url=server["endpoint"].rsplit("/", 1)[0], headers=headers, timeout=30)
            statuses.append(response.status_code)
            assert response.status_code < 500, (case.method, case.formatted_path, response.status_code)

        call()
    assert len(statuses) >= 200 and any(s == 200 for s in statuses) and any(s in (400, 401, 404) for s in statuses)
    print(f"fuzz: {len(statuses)} calls over {len(operations)} operations, statuses {sorted(set(statuses))}")


def test_an_ended_contract_leaves_the_catalog_and_is_purged_after_retention(server):
    import requests

    from jobs.errors import ContractEnded
    from jobs.publish.deliver import publish
    from jobs.publish.ending import end_contract, purge_ended
    from jobs.publish.portfolio import find_contract

    token = _token(server["profiles"][BUYER])
    app = server["app"]
    other = find_contract("kk-traffic-od")
    # ending one of two contracts keeps the buyer's token: the other contract still shares
    assert end_contract(other, by="privacy officer", reason="test")["tokens_revoked"] == 0
    assert _get(server, f"/shares/{BUYER}/all-tables", token).status_code == 200
    contract = find_contract(CONTRACT)
    query = requests.post(f"{server['endpoint']}/shares/{BUYER}/schemas/products/tables/{CONTRACT}/query",
                          json={}, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    urls = [json.loads(line)["file"]["url"] for line in query.text.splitlines() if '"file"' in line]
    assert urls and requests.head(urls[0], timeout=30).status_code == 200
    record = end_contract(contract, by="privacy officer", reason="buyer cancelled")
    assert record["tokens_revoked"] == 1
    app.state.catalog.invalidate()
    assert _get(server, f"/shares/{BUYER}/all-tables", token).status_code == 401
    # a file URL signed before the end stops working at once, not when it expires
    assert requests.head(urls[0], timeout=30).status_code == 403
    with pytest.raises(ContractEnded, match=CONTRACT):
        publish(server["spark"], contract, DAY)
    # a new token for the buyer finds no table: ended contracts are not shared
    from jobs.publish.recipients import add_recipient

    fresh = _token(add_recipient(BUYER, server["endpoint"], days=1))
    assert _get(server, f"/shares/{BUYER}/all-tables", fresh).json()["items"] == []
    assert _get(server, f"/shares/{BUYER}/schemas/products/tables/{CONTRACT}/metadata", fresh).status_code == 404
    root = Path(server["root"])
    outbox, gold = root / "outbox" / BUYER / CONTRACT, root / "gold" / CONTRACT
    assert outbox.exists() and gold.exists()
    # nothing is deleted before the retention ends, everything delivered is after it; audits and ledger stay
    assert purge_ended(dt.datetime.now(dt.UTC)) == {}
    later = dt.datetime.fromisoformat(record["delete_after"]) + dt.timedelta(seconds=1)
    purged = purge_ended(later)
    assert set(purged) == {CONTRACT, "kk-traffic-od"} and purged[CONTRACT]["deliveries"]
    assert not outbox.exists() and not gold.exists()
    assert list((root / "audit").rglob(f"*{CONTRACT}*")) and (root / "ledger").exists()
