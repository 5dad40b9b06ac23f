"""A Delta Sharing server (open protocol, https://github.com/delta-io/delta-sharing/blob/main/PROTOCOL.md)
for buyers' products.

Each buyer is one share (its name is the buyer id) with one schema, ``products``, holding one table per
contract of that buyer: the contract's ``gold/<contract_id>`` product table, partitioned by ``delivery_id``.
Products only: ``gold/releases``, silver, bronze and the ledger have no name here, and a product table holds
only what was delivered (values below k are null, ``suppressed`` true).

Endpoints under ``/delta-sharing``: list shares, get a share, list schemas, list tables (per schema and all),
table version (``startingTimestamp``), metadata, query (``version`` or ``timestamp`` time travel;
``predicateHints``, ``jsonPredicateHints`` and ``limitHint`` are accepted and safely ignored: every file of
the version is returned, and the client filters), and changes (answered 400: product tables do not record
change data). Files are served by pre-signed URLs that expire after ``URL_SECONDS`` (HMAC-SHA-256 over the
table, file and expiry with ``_secrets/sharing_url.key``), each with its integer columns typed for pandas
(``typed_files``).

Authorisation: a bearer token of a live recipient (``jobs/publish/recipients.py``); a missing, unknown,
expired or revoked token gets 401; another buyer's share, or any name that is not ``[A-Za-z0-9_-]``, gets
404 (a share's existence is not revealed); a tampered or expired file URL gets 403. Every answered
metadata, query and file read is logged for the contract's next audit.
"""

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import threading
import time
from typing import Any

from jobs.common import lake, paths, settings, tables
from jobs.common.objectstore import S3Path
from jobs.contracts import agreement_over, ended_contracts
from jobs.errors import StorageFault
from jobs.publish.portfolio import load_contracts
from jobs.publish.recipients import (
    authenticate,
    log_read,
    log_refusal,
    read_recipients,
    recipients_path,
    token_hash,
)
from jobs.sharing.typed_files import served_bytes

log = logging.getLogger(__name__)

PREFIX = "/delta-sharing"
SCHEMA = "products"
URL_SECONDS = 15 * 60
CONTRACTS_TTL_SECONDS = 30.0
NAME = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
MAX_RESULTS = 500


class SharingError(Exception):
    """An answer other than 200: status code, protocol error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def refusal_entry(method: str, path: str, authorization: str | None, address: str, status: int,
                  code: str) -> dict[str, Any]:
    """What the refusal log keeps of a refused request: never the token, only its hash's first 12 characters;
    the product table when the path names one."""
    token = authorization[7:].strip() if authorization and authorization.startswith("Bearer ") else ""
    table = re.search(r"/tables/([A-Za-z0-9_-]+)", path)
    return {"status": status, "code": code, "method": method, "path": path[:200],
            "table": table.group(1) if table else None, "token": token_hash(token)[:12] if token else None,
            "address": address[:64]}


def _not_found(what: str) -> SharingError:
    return SharingError(404, "RESOURCE_DOES_NOT_EXIST", f"{what} does not exist or is not shared with you")


def url_key() -> bytes:
    """The key that signs file URLs: ``CDE_SHARING_URL_KEY`` (hex, at least 32 bytes; several servers behind
    one load balancer share it, from the secret store), else a file made once (0600; a new key only
    invalidates URLs already handed out)."""
    shared = settings.setting("CDE_SHARING_URL_KEY")
    if shared:
        key = bytes.fromhex(shared.strip())
        if len(key) < 32:
            raise ValueError("CDE_SHARING_URL_KEY must be at least 32 bytes (64 hex digits)")
        return key
    path = settings.secrets_dir() / "sharing_url.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(secrets.token_bytes(32))
        except FileExistsError:  # another worker made it first
            pass
    return path.read_bytes()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_file(key: bytes, table: str, relative: str, expires: int) -> str:
    """The token of a pre-signed file URL: the table, the file inside it and the expiry, with their HMAC."""
    body = _b64(json.dumps([table, relative, expires], separators=(",", ":")).encode())
    return f"{body}.{_b64(hmac.new(key, body.encode(), hashlib.sha256).digest())}"


def open_file_token(key: bytes, token: str, now: float | None = None) -> tuple[str, str]:
    """Check a file URL's token; return (table, relative file path) or raise 403."""
    try:
        body, signature = token.split(".", 1)
        expected = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(signature, expected):
            raise ValueError("signature")
        table, relative, expires = json.loads(_unb64(body))
    except (ValueError, TypeError):
        raise SharingError(403, "PERMISSION_DENIED", "file URL is not valid") from None
    if (now or time.time()) >= int(expires):
        raise SharingError(403, "PERMISSION_DENIED", "file URL has expired: query the table again")
    return str(table), str(relative)


class Catalog:
    """What each buyer may read, with the caches that keep a request cheap.

    Contracts are re-read every ``CONTRACTS_TTL_SECONDS`` (ended contracts leave the catalog then), the
    recipients file whenever it changes, and a table's snapshot (schema and file list) once per version:
    the latest version is found by listing the table's log (``lake.listed_version``), not by loading it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._contracts: tuple[float, dict[str, dict[str, str]]] = (0.0, {})
        self._recipients: tuple[float, list[dict[str, Any]]] = (-1.0, [])
        self._snapshots: dict[tuple[str, int], dict[str, Any]] = {}

    def tables_of(self, buyer: str) -> dict[str, str]:
        """Contract id to product table folder, for every live contract of ``buyer``."""
        return self._live().get(buyer, {})

    def is_live(self, contract_id: str) -> bool:
        """Whether a contract is live for some buyer (signed file URLs of an ended contract stop working)."""
        return any(contract_id in tables for tables in self._live().values())

    def _live(self) -> dict[str, dict[str, str]]:
        loaded_at, catalog = self._contracts
        if time.monotonic() - loaded_at > CONTRACTS_TTL_SECONDS:
            contracts, _ = load_contracts()
            ended = ended_contracts()
            catalog = {}
            for contract in contracts.values():
                if contract.id not in ended and contract.status != "retired" and not agreement_over(contract):
                    catalog.setdefault(contract.buyer, {})[contract.id] = str(tables.product(contract.id).path())
            self._contracts = (time.monotonic(), catalog)
        return catalog

    def recipients(self) -> list[dict[str, Any]]:
        """The recipients file, re-read when it changes."""
        path = recipients_path()
        stamp = path.stat().st_mtime_ns if path.exists() else 0
        if stamp != self._recipients[0]:
            self._recipients = (stamp, read_recipients())
        return self._recipients[1]

    def invalidate(self) -> None:
        """Forget cached contracts and recipients (tests, and after ``cde contracts end``)."""
        self._contracts = (0.0, {})
        self._recipients = (-1.0, [])

    @staticmethod
    def latest_version(path: str) -> int | None:
        """Newest committed version of a Delta table, from its log folder's file names."""
        return lake.listed_version(path)

    def snapshot(self, path: str, version: int) -> dict[str, Any]:
        """Schema, partition columns, commit time and files of one version of a table (cached)."""
        key = (path, version)
        if key in self._snapshots:
            return self._snapshots[key]
        try:
            snap = lake.snapshot(path, version)
        except lake.LakeError:
            raise SharingError(400, "INVALID_PARAMETER_VALUE", f"table version {version} is not available") from None
        with self._lock:
            if len(self._snapshots) > 256:
                self._snapshots.clear()
            self._snapshots[key] = snap
        return snap

    def version_at(self, path: str, timestamp: str) -> int:
        """The newest version committed at or before an ISO-8601 instant (timestamp time travel)."""
        try:
            instant = dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
        except ValueError:
            raise SharingError(400, "INVALID_PARAMETER_VALUE", f"timestamp {timestamp!r} is not ISO-8601") from None
        if instant.tzinfo is None:
            instant = instant.replace(tzinfo=dt.UTC)
        found = lake.version_at(path, instant.timestamp() * 1000)
        if found is None:
            raise SharingError(400, "INVALID_PARAMETER_VALUE", f"the table has no version at {timestamp}")
        return found


def complete_deliveries(buyer: str, contract_id: str, files: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The product files a buyer may read: those of deliveries whose outbox folder is in place and whose
    published audit names them. ``gold/<contract_id>`` is written before a delivery's files, audit and swap,
    so rows of a crashed attempt, or of a redelivery killed before its swap, are served only once the audit
    that describes them is the delivery's own (docs/architecture.md, "Nothing visible before its audit")."""
    audited: dict[str, tuple[bool, set[str] | None]] = {}
    kept = []
    for f in files:
        delivery = (f.get("partitionValues") or {}).get("delivery_id")
        if delivery not in audited:
            audited[delivery] = _audited_files(buyer, contract_id, delivery) if delivery else (False, None)
        complete, named = audited[delivery]
        if complete and (named is None or f["path"] in named):
            kept.append(f)
    return kept


def _audited_files(buyer: str, contract_id: str, delivery: str) -> tuple[bool, set[str] | None]:
    """Whether one delivery is complete (its outbox folder in place, its audit published and readable), and
    the gold files that audit names (None for an audit written before audits named them: every file of the
    delivery is served)."""
    audit = paths.audit_dir(contract_id) / f"{delivery}.json"
    if not paths.outbox(buyer, contract_id, delivery).exists() or not audit.exists():
        return False, None
    try:
        named = json.loads(audit.read_text())["delivery"].get("gold_files")
        return True, None if named is None else {str(p) for p in named}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        log.warning("sharing: the audit %s cannot be read; delivery %s is not served", audit, delivery)
        return False, None


def create_app(base_url: str | None = None):  # noqa: C901 - one closure per protocol endpoint reads best
    """The FastAPI application of the sharing server.

    Parameters
    ----------
    base_url : str, optional
        Scheme and host the buyers reach the server at (file URLs are built on it); by default the
        request's own base URL.
    """
    from fastapi import FastAPI, Header, Request
    from fastapi.responses import JSONResponse, Response
    from pydantic import BaseModel, ConfigDict

    catalog = Catalog()
    key = url_key()
    app = FastAPI(title="CDE Delta Sharing server", version="1.0",
                  description="Delta Sharing open protocol for buyers' products (jobs/sharing/server.py)")
    app.state.catalog = catalog

    @app.exception_handler(SharingError)
    async def sharing_error(request, exc: SharingError):
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        if exc.status in (401, 403, 404):  # every refusal is recorded, and counted in the product's next audit
            try:
                log_refusal(refusal_entry(request.method, request.url.path, request.headers.get("authorization"),
                                          request.client.host if request.client else "", exc.status, exc.code))
            except OSError as fault:  # the refusal still answers as it should; the operator reads why
                log.error("sharing: a refused request could not be logged: %s", fault)
        return JSONResponse({"errorCode": exc.code, "message": exc.message}, status_code=exc.status, headers=headers)

    from fastapi.exceptions import RequestValidationError

    @app.exception_handler(RequestValidationError)
    async def bad_request(_request, exc: RequestValidationError):
        return JSONResponse({"errorCode": "INVALID_PARAMETER_VALUE",
                             "message": "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())},
                            status_code=400)

    def buyer_of(authorization: str | None) -> str:
        if not authorization or not authorization.startswith("Bearer ") or len(authorization) > 512:
            raise SharingError(401, "UNAUTHENTICATED", "a bearer token is required")
        try:
            recipients = catalog.recipients()
        except StorageFault as exc:  # one damaged operations file: say so, never a 500 with a stack
            log.error("sharing: %s", exc)
            raise SharingError(503, "TEMPORARILY_UNAVAILABLE",
                               "the server cannot check tokens now; its operator has been told") from None
        buyer = authenticate(authorization[7:].strip(), recipients)
        if buyer is None:
            raise SharingError(401, "UNAUTHENTICATED", "the token is not valid (unknown, expired or revoked)")
        return buyer

    def check_names(*names: str) -> None:
        for name in names:
            if not NAME.match(name):
                raise _not_found(f"{name[:60]!r}")

    def share_of(authorization: str | None, share: str) -> str:
        buyer = buyer_of(authorization)
        check_names(share)
        if share != buyer:
            raise _not_found(f"share {share!r}")
        return buyer

    def table_path(authorization: str | None, share: str, schema: str, table: str) -> tuple[str, str]:
        buyer = share_of(authorization, share)
        check_names(schema, table)
        if schema != SCHEMA:
            raise _not_found(f"schema {schema!r}")
        path = catalog.tables_of(buyer).get(table)
        if path is None or catalog.latest_version(path) is None:
            raise _not_found(f"table {table!r}")
        return buyer, path

    def page(items: list[dict], max_results: int | None, page_token: str | None) -> dict:
        if max_results is not None and not 0 <= max_results <= 10_000:
            raise SharingError(400, "INVALID_PARAMETER_VALUE", "maxResults must be 0 to 10000")
        size = MAX_RESULTS if not max_results else min(max_results, MAX_RESULTS)
        try:
            start = int(page_token) if page_token else 0
        except ValueError:
            raise SharingError(400, "INVALID_PARAMETER_VALUE", "pageToken is not valid") from None
        if start < 0:
            raise SharingError(400, "INVALID_PARAMETER_VALUE", "pageToken is not valid")
        out: dict[str, Any] = {"items": items[start:start + size]}
        if start + size < len(items):
            out["nextPageToken"] = str(start + size)
        return out

    def share_id(name: str) -> str:
        return hashlib.sha256(f"share:{name}".encode()).hexdigest()[:32]

    def table_items(buyer: str) -> list[dict]:
        return [{"name": t, "schema": SCHEMA, "share": buyer, "shareId": share_id(buyer),
                 "id": hashlib.sha256(f"table:{buyer}:{t}".encode()).hexdigest()[:32]}
                for t, path in sorted(catalog.tables_of(buyer).items()) if catalog.latest_version(path) is not None]

    def ndjson(lines: list[dict], version: int) -> Response:
        body = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines)
        return Response(body, media_type="application/x-ndjson",
                        headers={"Delta-Table-Version": str(version),
                                 "delta-sharing-capabilities": "responseformat=parquet"})

    def metadata_lines(snap: dict) -> list[dict]:
        return [{"protocol": {"minReaderVersion": 1}},
                {"metaData": {"id": snap["id"], "format": {"provider": "parquet"}, "schemaString": snap["schemaString"],
                              "partitionColumns": snap["partitionColumns"], "configuration": snap["configuration"],
                              "version": None, "numFiles": len(snap["files"])}}]

    @app.get(PREFIX + "/shares")
    def list_shares(maxResults: int | None = None, pageToken: str | None = None,  # noqa: N803 - protocol names
                    authorization: str | None = Header(default=None)):
        buyer = buyer_of(authorization)
        return page([{"name": buyer, "id": share_id(buyer)}], maxResults, pageToken)

    @app.get(PREFIX + "/shares/{share}")
    def get_share(share: str, authorization: str | None = Header(default=None)):
        buyer = share_of(authorization, share)
        return {"share": {"name": buyer, "id": share_id(buyer)}}

    @app.get(PREFIX + "/shares/{share}/schemas")
    def list_schemas(share: str, maxResults: int | None = None, pageToken: str | None = None,  # noqa: N803
                     authorization: str | None = Header(default=None)):
        buyer = share_of(authorization, share)
        return page([{"name": SCHEMA, "share": buyer}], maxResults, pageToken)

    @app.get(PREFIX + "/shares/{share}/schemas/{schema}/tables")
    def list_tables(share: str, schema: str, maxResults: int | None = None,  # noqa: N803
                    pageToken: str | None = None, authorization: str | None = Header(default=None)):  # noqa: N803
        buyer = share_of(authorization, share)
        check_names(schema)
        if schema != SCHEMA:
            raise _not_found(f"schema {schema!r}")
        return page(table_items(buyer), maxResults, pageToken)

    @app.get(PREFIX + "/shares/{share}/all-tables")
    def list_all_tables(share: str, maxResults: int | None = None, pageToken: str | None = None,  # noqa: N803
                        authorization: str | None = Header(default=None)):
        buyer = share_of(authorization, share)
        return page(table_items(buyer), maxResults, pageToken)

    @app.get(PREFIX + "/shares/{share}/schemas/{schema}/tables/{table}/version", operation_id="table_version")
    @app.head(PREFIX + "/shares/{share}/schemas/{schema}/tables/{table}/version", operation_id="table_version_head")
    def table_version(share: str, schema: str, table: str, startingTimestamp: str | None = None,  # noqa: N803
                      authorization: str | None = Header(default=None)):
        _, path = table_path(authorization, share, schema, table)
        version = catalog.version_at(path, startingTimestamp) if startingTimestamp else catalog.latest_version(path)
        return Response(status_code=200, headers={"Delta-Table-Version": str(version)})

    @app.get(PREFIX + "/shares/{share}/schemas/{schema}/tables/{table}/metadata")
    def table_metadata(share: str, schema: str, table: str, authorization: str | None = Header(default=None)):
        buyer, path = table_path(authorization, share, schema, table)
        version = catalog.latest_version(path)
        snap = catalog.snapshot(path, version)
        log_read({"buyer": buyer, "request": "metadata", "table": table, "version": version, "files": 0})
        return ndjson(metadata_lines(snap), version)

    class QueryBody(BaseModel):
        model_config = ConfigDict(extra="ignore")
        predicateHints: list[str] | None = None  # noqa: N815 - protocol names
        jsonPredicateHints: str | None = None  # noqa: N815
        limitHint: int | None = None  # noqa: N815
        version: int | None = None
        timestamp: str | None = None
        startingVersion: int | None = None  # noqa: N815
        endingVersion: int | None = None  # noqa: N815

    @app.post(PREFIX + "/shares/{share}/schemas/{schema}/tables/{table}/query")
    def query_table(share: str, schema: str, table: str, request: Request, body: QueryBody | None = None,
                    authorization: str | None = Header(default=None)):
        buyer, path = table_path(authorization, share, schema, table)
        body = body or QueryBody()
        if body.startingVersion is not None or body.endingVersion is not None:
            raise SharingError(400, "INVALID_PARAMETER_VALUE", "startingVersion queries need change data, which "
                                                               "product tables do not record: query a version")
        if body.version is not None and body.timestamp is not None:
            raise SharingError(400, "INVALID_PARAMETER_VALUE", "give version or timestamp, not both")
        if body.limitHint is not None and body.limitHint < 0:
            raise SharingError(400, "INVALID_PARAMETER_VALUE", "limitHint must not be negative")
        latest = catalog.latest_version(path)
        if body.version is not None:
            if not 0 <= body.version <= latest:
                raise SharingError(400, "INVALID_PARAMETER_VALUE", f"table version {body.version} is not available")
            version = body.version
        elif body.timestamp is not None:
            version = catalog.version_at(path, body.timestamp)
        else:
            version = latest
        snap = catalog.snapshot(path, version)
        expires = int(time.time()) + URL_SECONDS
        root = (base_url or str(request.base_url)).rstrip("/")
        lines = metadata_lines(snap)
        for f in complete_deliveries(buyer, table, snap["files"]):
            stats = {"numRecords": f["numRecords"]} if f["numRecords"] is not None else {}
            size = len(file_bytes(table, f["path"]))  # the typed copy's size, as served
            lines.append({"file": {
                "url": f"{root}{PREFIX}/files/{sign_file(key, table, f['path'], expires)}",
                "id": hashlib.sha256(f"{path}/{f['path']}".encode()).hexdigest()[:32],
                "partitionValues": f["partitionValues"], "size": size, "stats": json.dumps(stats),
                "version": version, "timestamp": snap["timestamp"], "expirationTimestamp": expires * 1000}})
        log_read({"buyer": buyer, "request": "query", "table": table, "version": version,
                  "files": len(lines) - len(metadata_lines(snap))})
        return ndjson(lines, version)

    @app.get(PREFIX + "/shares/{share}/schemas/{schema}/tables/{table}/changes")
    def table_changes(share: str, schema: str, table: str, authorization: str | None = Header(default=None)):
        table_path(authorization, share, schema, table)
        raise SharingError(400, "INVALID_PARAMETER_VALUE",
                           "change data feed is not enabled on product tables: query a version instead")

    def file_bytes(table: str, relative: str) -> bytes:
        """A data file of a live product table as served: its typed copy (``typed_files``)."""
        root = tables.product(table).path()
        if isinstance(root, S3Path):  # a lake in a bucket: the object, read through the server's role
            parts = relative.split("/")
            if ".." in parts or "" in parts or not relative.endswith(".parquet"):
                raise SharingError(403, "PERMISSION_DENIED", "file URL is not valid")
            source = root / relative
        else:
            source = (root / relative).resolve()
            if root not in source.parents or not source.is_file() or source.suffix != ".parquet":
                raise SharingError(403, "PERMISSION_DENIED", "file URL is not valid")
        try:
            return served_bytes(f"{table}/{relative}", source.read_bytes)
        except FileNotFoundError:
            raise SharingError(403, "PERMISSION_DENIED", "file URL is not valid") from None

    @app.get(PREFIX + "/files/{token}", operation_id="file")
    @app.head(PREFIX + "/files/{token}", operation_id="file_head")
    def file(token: str):
        # The signature is the authorisation (a buyer's reader fetches these without the bearer token).
        table, relative = open_file_token(key, token)
        if not NAME.match(table) or not catalog.is_live(table):
            raise SharingError(403, "PERMISSION_DENIED", "file URL is not valid")
        return Response(file_bytes(table, relative), media_type="application/octet-stream")

    return app


def serve(host: str = "127.0.0.1", port: int = 8765) -> None:
    """Run the sharing server (``cde share``, ``make share``); loopback by default."""
    import uvicorn

    uvicorn.run(create_app(), host=host, port=port, log_level="warning")
