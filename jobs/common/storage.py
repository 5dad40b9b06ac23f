"""File operations on the lake that differ between a local folder and an object store, and the checks that
storage can take a write, made before anything is spent (a spend is never given back).

A release or delivery that would fail to store its output must be refused while refusing is free: every
folder it writes must exist or be creatable, be writable (a probe file is written and removed) and have
``settings.MIN_FREE_MB`` free (local folders; a bucket has no such figure), and every Delta table it reads or
appends to must have a readable log.

Each operation here takes a local ``Path`` or an ``S3Path`` (``jobs/common/objectstore.py``): a local folder
gets renames, ``fsync`` and permissions; a bucket gets single PUTs and conditional writes.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

from jobs.common import paths, settings
from jobs.common.objectstore import S3Path, is_remote, lake_path
from jobs.errors import StorageFault


def remove_tree(path: Path | S3Path, ignore_errors: bool = False) -> None:
    """Delete a folder (or key prefix) and everything in it; nothing happens when it is absent.

    A folder that cannot be deleted raises, unless ``ignore_errors`` (best-effort clean-up of scratch
    folders)."""
    if isinstance(path, S3Path):
        path.remove_tree()
    elif ignore_errors:
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        shutil.rmtree(path)


def write_atomic(path: Path | S3Path, text: str, mode: int | None = None) -> None:
    """Replace a small file whole: a reader sees the old text or the new, never a part (a local file is
    written beside it, given ``mode``, and renamed over it; an object is one PUT)."""
    if isinstance(path, S3Path):
        path.write_text(text)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    staging.write_text(text)
    if mode is not None:
        staging.chmod(mode)
    os.replace(staging, path)


def create_exclusive(path: Path | S3Path, text: str, mode: int = 0o640) -> bool:
    """Create ``path`` holding ``text`` unless it exists; whether this call created it. Nobody ever sees it
    empty or half written: a local file is written privately and hard-linked into place (the link fails when
    another process created it first); an object is created with ``If-None-Match: *``."""
    if isinstance(path, S3Path):
        return path.put_if_absent(text.encode("utf-8")) is not None
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
            return True
        except FileExistsError:  # another process created it first: theirs counts
            return False
    finally:
        tmp.unlink(missing_ok=True)


def append_line(path: Path | S3Path, line: str, attempts: int = 50) -> None:
    """Append one line to a JSON-lines log without losing a concurrent writer's line.

    A local file is opened for appending (one short write: appends do not interleave). An object cannot be
    appended to, so it is read and written back with ``If-Match`` on the version read; a concurrent append
    makes the write fail, and it is redone on the new version.
    """
    text = line.rstrip("\n") + "\n"
    if not isinstance(path, S3Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as out:
            out.write(text)
        return
    for attempt in range(attempts):
        current = path.read_with_etag()
        if current is None:
            if path.put_if_absent(text.encode("utf-8")) is not None:
                return
        elif path.put_if_match(current[0] + text.encode("utf-8"), current[1]) is not None:
            return
        time.sleep(0.01 * min(attempt + 1, 20))
    raise StorageFault(f"{path}: no append after {attempts} attempts (other writers kept changing it)")


def local_staging(name: str) -> Path:
    """A new empty local folder to build files in before they go to the lake.

    Under the lake's ``.staging/`` when the lake is local (the same file system, so the folder can be renamed
    into place), else in the system's temporary folder (``TMPDIR``). The caller removes it.
    """
    root = settings.lake_root()
    base = Path(tempfile.gettempdir()) / "cde-staging" if is_remote(root) else paths.outbox_staging()
    base.mkdir(parents=True, exist_ok=True)
    folder = base / f"{name}-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    return folder


def upload_tree(source: Path, target: Path | S3Path, last: Iterable[str] = ()) -> None:
    """Copy a local folder's files to ``target`` (a local folder or a key prefix), the names in ``last`` after
    every other file."""
    files = sorted(p for p in Path(source).rglob("*") if p.is_file())
    late = set(last)
    for path in sorted(files, key=lambda p: p.name in late):
        dest = target / path.relative_to(source).as_posix()
        if isinstance(dest, S3Path):
            dest.write_bytes(path.read_bytes())
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)


def read_json_lines(path: Path) -> list[dict]:
    """Every record of a JSON-lines log (``lake/ops/*.jsonl``), oldest first; none when the file is absent.
    A last line cut by a crash is skipped, so the records before it still count."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def _existing_ancestor(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_writable(folder: Path | S3Path, what: str) -> None:
    """Refuse (``StorageFault``) when ``folder`` cannot take a write: read-only, not a folder, or short of
    ``settings.MIN_FREE_MB`` free space (on an object store: a probe object cannot be written). Creates
    nothing that stays."""
    if isinstance(folder, S3Path):
        probe = folder / f".cde-probe-{uuid.uuid4().hex}"
        try:
            probe.write_bytes(b"\0" * 4096)
            probe.unlink(missing_ok=True)
        except Exception as exc:
            raise StorageFault(f"{what}: cannot write under {folder} ({type(exc).__name__}: "
                               f"{str(exc).splitlines()[0][:200]}); check the bucket, the role's rights and the "
                               "endpoint, and rerun") from None
        return
    base = _existing_ancestor(Path(folder))
    if not base.is_dir():
        raise StorageFault(f"{what}: {base} is not a folder; move it aside so {folder} can be created")
    free_mb = shutil.disk_usage(base).free / 2**20
    if free_mb < settings.MIN_FREE_MB:
        raise StorageFault(f"{what}: {base} has {free_mb:.0f} MB free, below the {settings.MIN_FREE_MB:g} MB "
                           "minimum (CDE_MIN_FREE_MB); free space and rerun")
    try:
        with tempfile.NamedTemporaryFile(dir=base, prefix=".cde-probe-") as probe:
            probe.write(b"\0" * 4096)
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as exc:
        raise StorageFault(f"{what}: cannot write in {base} ({exc.strerror or exc}); make it writable "
                           "and rerun") from None


def check_table(path: Path, what: str) -> None:
    """Refuse (``StorageFault``) when the Delta table at ``path`` exists but its log cannot be read."""
    if not (lake_path(path) / "_delta_log").exists():
        return
    try:
        from deltalake import DeltaTable

        DeltaTable(str(path)).version()  # loading the table replays its log
    except Exception as exc:  # any failure to read the log or its checkpoint: the table is damaged
        raise StorageFault(f"{what}: the Delta log at {path}/_delta_log cannot be read ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0][:200]}); restore it from backup (or move the table "
                           "aside) and rerun") from None


def preflight(tables: Iterable[tuple[Path | S3Path, str]],
              folders: Iterable[tuple[Path | S3Path, str]] = ()) -> None:
    """Check every table's log and that every table folder and extra folder can take a write."""
    for path, what in tables:
        check_table(path, what)
        check_writable(path, what)
    for path, what in folders:
        check_writable(path, what)


def restrict(path: Path | S3Path) -> None:
    """Give a file, or a folder and everything in it, the configured modes (``settings.FILE_MODE`` for
    files, ``settings.DIR_MODE`` for folders). Objects have no modes: the bucket policy and the buyers' roles
    decide who reads them (``infra/terraform``)."""
    if isinstance(path, S3Path):
        return
    path = Path(path)
    if path.is_file():
        path.chmod(settings.FILE_MODE)
        return
    for dirpath, _dirs, names in os.walk(path):
        Path(dirpath).chmod(settings.DIR_MODE)
        for name in names:
            Path(dirpath, name).chmod(settings.FILE_MODE)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    import ctypes
    import errno

    libc = ctypes.CDLL(None, use_errno=True)
    if not hasattr(libc, "renameat2"):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def replace_folder(staging: Path, target: Path | S3Path, marker: str = "manifest.json") -> None:
    """Make the folder ``staging`` appear at ``target`` in one atomic step, replacing what was there.

    A reader sees the old folder or the new one, never a mix and never nothing (on file systems without
    ``RENAME_EXCHANGE`` the old folder is moved aside first, so a reader may briefly see nothing). The
    callers hold the delivery's lock, so no other writer races for ``target``.

    On an object store nothing renames a prefix: the old ``marker`` (the manifest) goes first, so the old
    delivery stops being one, then the old objects, then the new files, the new ``marker`` last. A reader
    that takes a delivery to exist once its manifest does (and checks each file's sha256 against it) never
    sees a mix; during a replacement it may briefly see none. ``staging`` is removed.
    """
    if isinstance(target, S3Path):
        (target / marker).unlink(missing_ok=True)
        target.remove_tree()
        upload_tree(staging, target, last=[marker])
        shutil.rmtree(staging)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    for parent in (target.parent, target.parent.parent):
        parent.chmod(settings.DIR_MODE)
    if not target.exists():
        os.rename(staging, target)
        return
    if not _exchange(staging, target):
        aside = target.with_name(f".{target.name}.old")
        shutil.rmtree(aside, ignore_errors=True)
        os.rename(target, aside)
        os.rename(staging, target)
        staging = aside
    shutil.rmtree(staging)  # now the old delivery
