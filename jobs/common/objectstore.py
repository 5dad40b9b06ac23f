"""Lake paths on an S3-compatible object store (``CDE_LAKE=s3://bucket/prefix``).

``S3Path`` carries the part of ``pathlib`` the jobs use on lake paths (``/``, ``name``, ``parent``,
``exists``, ``is_dir``, ``iterdir``, ``glob``, ``read_text``, ``write_bytes``, ``open`` ...), so a job written
against ``settings.lake_root()`` runs unchanged on a local folder or on a bucket. What has no object-store
meaning (permissions, renames, ``flock``, free space) lives in ``jobs/common/storage.py`` and
``jobs/common/locks.py``, with a branch for each kind of path. An ``S3Path`` has no ``__fspath__``: handing
one to ``open()`` or ``os.*`` fails loudly instead of writing a local file named ``s3:``.

"Folders" are key prefixes: ``mkdir`` does nothing, and a folder exists while some key lies under it.
Conditional writes (``If-None-Match: *`` to create only, ``If-Match: <etag>`` to replace only what was read)
are what makes a lock or an append safe between machines; AWS S3 has them since 2024, and so do MinIO and
the ``moto`` server the tests run on loopback.

The endpoint and credentials come from the standard AWS environment (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``, or the task's role in the cloud), which
boto3 here, delta-rs and Spark's S3A (``jobs/common/spark.py``) all read.
"""

from __future__ import annotations

import fnmatch
import io
import os
import posixpath
import threading
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from types import SimpleNamespace
from typing import Any

SCHEMES = ("s3://", "s3a://")

_clients: dict[tuple, Any] = {}
# A client is made for one endpoint and identity: a change of these (a test's endpoint) makes another.
_CLIENT_ENVIRONMENT = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_REGION", "AWS_PROFILE")
_clients_lock = threading.Lock()


def is_remote(path: Any) -> bool:
    """True when ``path`` names an object-store location (``s3://`` or ``s3a://``)."""
    return str(path).startswith(SCHEMES)


def lake_path(value: str | os.PathLike | S3Path) -> Path | S3Path:
    """The path object for a lake location: an ``S3Path`` for ``s3://...``, else an absolute ``Path``."""
    if isinstance(value, S3Path):
        return value
    text = str(value)
    return S3Path(text) if text.startswith(SCHEMES) else Path(text).resolve()


def client() -> Any:
    """This process's boto3 S3 client for the current AWS environment (created once per process and
    environment; botocore clients are thread-safe)."""
    pid = (os.getpid(), *(os.environ.get(name) for name in _CLIENT_ENVIRONMENT))
    if pid not in _clients:
        with _clients_lock:
            if pid not in _clients:
                import boto3
                from botocore.config import Config

                # Path-style addressing works with every S3-compatible endpoint on loopback; AWS accepts it too.
                style = "path" if os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL_S3") \
                    else "auto"
                config = Config(retries={"max_attempts": 5, "mode": "standard"}, s3={"addressing_style": style})
                _clients[pid] = boto3.session.Session().client("s3", config=config)
    return _clients[pid]


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _status(exc: Exception) -> int:
    response = getattr(exc, "response", None) or {}
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def _missing(exc: Exception) -> bool:
    return _error_code(exc) in ("404", "NoSuchKey", "NotFound") or _status(exc) == 404


def _precondition_failed(exc: Exception) -> bool:
    # 412: the condition did not hold; 409: a concurrent conditional write to the same key won (S3 asks to retry)
    return _error_code(exc) in ("PreconditionFailed", "ConditionalRequestConflict") or _status(exc) in (409, 412)


class S3Path:
    """One key (or key prefix, for a "folder") in a bucket, with the ``pathlib`` methods the jobs use.

    Parameters
    ----------
    uri : str
        ``s3://bucket/key`` (``s3a://`` is read as ``s3://``).
    """

    __slots__ = ("bucket", "key")

    def __init__(self, uri: str) -> None:
        scheme, sep, rest = str(uri).partition("://")
        if not sep or f"{scheme}://" not in SCHEMES:
            raise ValueError(f"{uri!r} is not an s3:// location")
        bucket, _, key = rest.partition("/")
        if not bucket:
            raise ValueError(f"{uri!r} names no bucket")
        parts = [p for p in key.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise ValueError(f"{uri!r}: '..' has no meaning in an object key")
        self.bucket = bucket
        self.key = "/".join(parts)

    # ------------------------------------------------------------------------------------------ names

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}" if self.key else f"s3://{self.bucket}"

    def __repr__(self) -> str:
        return f"S3Path({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, S3Path) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    def __lt__(self, other: S3Path) -> bool:
        return str(self) < str(other)

    def __truediv__(self, part: str | os.PathLike) -> S3Path:
        return S3Path(f"s3://{self.bucket}/{posixpath.join(self.key, str(part))}")

    def joinpath(self, *parts: str) -> S3Path:
        """``self / part / ...``."""
        path = self
        for part in parts:
            path = path / part
        return path

    @property
    def name(self) -> str:
        """The last part of the key."""
        return PurePosixPath(self.key).name

    @property
    def stem(self) -> str:
        """The name without its suffix."""
        return PurePosixPath(self.key).stem

    @property
    def suffix(self) -> str:
        """The name's suffix (``.json``)."""
        return PurePosixPath(self.key).suffix

    @property
    def parent(self) -> S3Path:
        """The key prefix one level up (the bucket itself at the top)."""
        return S3Path(f"s3://{self.bucket}/{posixpath.dirname(self.key)}")

    def with_name(self, name: str) -> S3Path:
        """The sibling key called ``name``."""
        return self.parent / name

    def with_suffix(self, suffix: str) -> S3Path:
        """The key with another suffix."""
        return self.parent / PurePosixPath(self.name).with_suffix(suffix).name

    def relative_to(self, other: S3Path | str) -> PurePosixPath:
        """The part of the key below ``other``."""
        other = lake_path(other)
        if not isinstance(other, S3Path) or other.bucket != self.bucket:
            raise ValueError(f"{self} is not under {other}")
        return PurePosixPath(self.key).relative_to(other.key or ".")

    def resolve(self) -> S3Path:
        """The path itself (object keys are already absolute)."""
        return self

    def as_uri(self) -> str:
        """``s3://bucket/key``."""
        return str(self)

    # ---------------------------------------------------------------------------------------- queries

    def _head(self) -> dict | None:
        if not self.key:
            return None
        try:
            return client().head_object(Bucket=self.bucket, Key=self.key)
        except Exception as exc:
            if _missing(exc):
                return None
            raise

    def is_file(self) -> bool:
        """True when an object has exactly this key."""
        return self._head() is not None

    def is_dir(self) -> bool:
        """True when some object lies under this key as a prefix."""
        prefix = f"{self.key}/" if self.key else ""
        listing = client().list_objects_v2(Bucket=self.bucket, Prefix=prefix, MaxKeys=1)
        return listing.get("KeyCount", 0) > 0

    def exists(self) -> bool:
        """True for an object or a non-empty prefix."""
        return self.is_file() or self.is_dir()

    def is_symlink(self) -> bool:
        """Always False: an object store has no links."""
        return False

    def stat(self) -> SimpleNamespace:
        """Size and modification time of the object (``st_size``, ``st_mtime``, ``st_mtime_ns``); for a prefix,
        size 0 and the newest modification time under it (as a folder's time moves with what is written in
        it)."""
        head = self._head()
        if head is not None:
            size, modified = int(head["ContentLength"]), head["LastModified"]
        else:
            prefix = f"{self.key}/" if self.key else ""
            times = [item["LastModified"]
                     for page in client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
                     for item in page.get("Contents", [])]
            if not times:
                raise FileNotFoundError(str(self))
            size, modified = 0, max(times)
        mtime = modified.timestamp()
        return SimpleNamespace(st_size=size, st_mtime=mtime, st_mtime_ns=int(mtime * 1e9))

    def etag(self) -> str | None:
        """The object's ETag (what a conditional write compares), or None when there is no object."""
        head = self._head()
        return head["ETag"] if head else None

    def _keys(self) -> Iterator[str]:
        """Every key under this prefix."""
        prefix = f"{self.key}/" if self.key else ""
        for page in client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield item["Key"]

    def iterdir(self) -> Iterator[S3Path]:
        """The objects and sub-prefixes directly under this prefix."""
        prefix = f"{self.key}/" if self.key else ""
        pages = client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix, Delimiter="/")
        for page in pages:
            for common in page.get("CommonPrefixes", []):
                yield S3Path(f"s3://{self.bucket}/{common['Prefix']}")
            for item in page.get("Contents", []):
                if item["Key"] != prefix:
                    yield S3Path(f"s3://{self.bucket}/{item['Key']}")

    def _below(self) -> set[str]:
        """Every key and every intermediate prefix under this one, relative to it."""
        found: set[str] = set()
        prefix = f"{self.key}/" if self.key else ""
        for key in self._keys():
            parts = key[len(prefix):].split("/")
            for depth in range(1, len(parts) + 1):
                found.add("/".join(parts[:depth]))
        found.discard("")
        return found

    def glob(self, pattern: str) -> Iterator[S3Path]:
        """Keys and prefixes matching ``pattern`` part by part (``*/*/manifest.json``; ``**`` as in rglob)."""
        if pattern.startswith("**/"):
            yield from self.rglob(pattern[3:])
            return
        wanted = pattern.split("/")
        for relative in sorted(self._below()):
            parts = relative.split("/")
            if len(parts) == len(wanted) and all(fnmatch.fnmatchcase(p, w) for p, w in zip(parts, wanted, strict=True)):
                yield self / relative

    def rglob(self, pattern: str) -> Iterator[S3Path]:
        """Keys and prefixes at any depth whose name matches ``pattern``."""
        for relative in sorted(self._below()):
            if fnmatch.fnmatchcase(relative.rsplit("/", 1)[-1], pattern):
                yield self / relative

    # ------------------------------------------------------------------------------- reads and writes

    def read_bytes(self) -> bytes:
        """The object's bytes."""
        try:
            return client().get_object(Bucket=self.bucket, Key=self.key)["Body"].read()
        except Exception as exc:
            if _missing(exc):
                raise FileNotFoundError(str(self)) from None
            raise

    def read_text(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        """The object decoded as text."""
        return self.read_bytes().decode(encoding, errors)

    def read_with_etag(self) -> tuple[bytes, str] | None:
        """The object's bytes and the ETag they belong to, or None when there is no object."""
        try:
            got = client().get_object(Bucket=self.bucket, Key=self.key)
        except Exception as exc:
            if _missing(exc):
                return None
            raise
        return got["Body"].read(), got["ETag"]

    def write_bytes(self, data: bytes) -> int:
        """Store ``data`` as the object (one PUT: readers see the old object or the new one)."""
        client().put_object(Bucket=self.bucket, Key=self.key, Body=bytes(data))
        return len(data)

    def write_text(self, data: str, encoding: str = "utf-8", errors: str = "strict", newline: str | None = None) -> int:
        """Store ``data`` encoded as text."""
        if newline not in (None, "", "\n"):
            data = data.replace("\n", newline)
        return self.write_bytes(data.encode(encoding, errors))

    def put_if_absent(self, data: bytes) -> str | None:
        """Create the object only if no object has this key (``If-None-Match: *``); its ETag, or None when one
        existed (or a concurrent create won)."""
        try:
            return client().put_object(Bucket=self.bucket, Key=self.key, Body=data, IfNoneMatch="*")["ETag"]
        except Exception as exc:
            if _precondition_failed(exc):
                return None
            raise

    def put_if_match(self, data: bytes, etag: str) -> str | None:
        """Replace the object only if it is still the version read (``If-Match``); the new ETag, or None."""
        try:
            return client().put_object(Bucket=self.bucket, Key=self.key, Body=data, IfMatch=etag)["ETag"]
        except Exception as exc:
            if _precondition_failed(exc) or _missing(exc):
                return None
            raise

    def delete_if_match(self, etag: str) -> bool:
        """Delete the object only if it is still the version ``etag``; whether it was deleted."""
        try:
            client().delete_object(Bucket=self.bucket, Key=self.key, IfMatch=etag)
            return True
        except Exception as exc:
            if _precondition_failed(exc) or _missing(exc):
                return False
            raise

    def open(self, mode: str = "r", buffering: int = -1, encoding: str | None = None, errors: str | None = None,
             newline: str | None = None) -> Any:
        """A file object: ``rb`` / ``r`` read with ranged GETs (seekable), ``wb`` / ``w`` store on close,
        ``xb`` / ``x`` store on close only if no object exists (``FileExistsError`` otherwise)."""
        kind = mode.replace("t", "")
        if kind in ("r", "rb"):
            size = self.stat().st_size
            raw = io.BufferedReader(_RangeReader(self, size), buffer_size=8 * 2**20)
            return raw if kind == "rb" else io.TextIOWrapper(raw, encoding or "utf-8", errors, newline)
        if kind in ("w", "wb", "x", "xb"):
            sink = _Upload(self, exclusive=kind.startswith("x"))
            return sink if kind.endswith("b") else _TextUpload(sink, encoding or "utf-8", errors, newline)
        raise ValueError(f"mode {mode!r} is not supported on {self}: objects are written whole (see "
                         "storage.append_line for logs)")

    def unlink(self, missing_ok: bool = False) -> None:
        """Delete the object."""
        if not missing_ok and not self.is_file():
            raise FileNotFoundError(str(self))
        client().delete_object(Bucket=self.bucket, Key=self.key)

    def mkdir(self, mode: int = 0o777, parents: bool = False, exist_ok: bool = False) -> None:
        """Nothing to do: a prefix exists once an object lies under it."""

    def chmod(self, mode: int) -> None:
        """Nothing to do: access to objects is the bucket policy's and the roles' (``infra/terraform``)."""

    def remove_tree(self) -> int:
        """Delete every object under this prefix (and the object with this key); return how many went."""
        keys = list(self._keys())
        if self.is_file():
            keys.append(self.key)
        for start in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[start:start + 1000]]
            client().delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
        return len(keys)


class _RangeReader(io.RawIOBase):
    """A seekable raw reader over one object, each read one ranged GET (wrapped in a BufferedReader)."""

    def __init__(self, path: S3Path, size: int) -> None:
        self._path, self._size, self._pos = path, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(base + offset, 0)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        if self._pos >= self._size:
            return 0
        end = min(self._pos + len(buffer), self._size) - 1
        body = client().get_object(Bucket=self._path.bucket, Key=self._path.key,
                                   Range=f"bytes={self._pos}-{end}")["Body"].read()
        buffer[:len(body)] = body
        self._pos += len(body)
        return len(body)


class _Upload(io.BytesIO):
    """Bytes kept in memory and stored as one object when closed (nothing is stored when the block raised
    before ``close``: a partial file never appears)."""

    def __init__(self, path: S3Path, exclusive: bool) -> None:
        super().__init__()
        self._path, self._exclusive = path, exclusive

    def close(self) -> None:
        if not self.closed:
            data = self.getvalue()
            if self._exclusive:
                if self._path.put_if_absent(data) is None:
                    super().close()
                    raise FileExistsError(str(self._path))
            else:
                self._path.write_bytes(data)
        super().close()

    def abandon(self) -> None:
        """Close without storing anything."""
        io.BytesIO.close(self)

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:  # the block failed: store nothing
            self.abandon()
            return
        self.close()


class _TextUpload(io.TextIOWrapper):
    """Text written to an ``_Upload``; a ``with`` block that raises stores nothing."""

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.buffer.abandon()
            return
        self.close()
