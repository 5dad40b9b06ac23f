"""Checks that storage can take a write, made before anything is spent (a spend is never given back).

A release or delivery that would fail to store its output must be refused while refusing is free: every
folder it writes must exist or be creatable, be writable (a probe file is written and removed) and have
``settings.MIN_FREE_MB`` free, and every Delta table it reads or appends to must have a readable log.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from jobs.common import settings
from jobs.errors import StorageFault


def read_json_lines(path: Path) -> list[dict]:
    """Every record of a JSON-lines log (``lake/ops/*.jsonl``), oldest first; none when the file is absent.
    A last line cut by a crash is skipped, so the records before it still count."""
    import json

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


def check_writable(folder: Path, what: str) -> None:
    """Refuse (``StorageFault``) when ``folder`` cannot take a write: read-only, not a folder, or short of
    ``settings.MIN_FREE_MB`` free space. Creates nothing that stays."""
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
    if not Path(path, "_delta_log").exists():
        return
    try:
        from deltalake import DeltaTable

        DeltaTable(str(path)).version()  # loading the table replays its log
    except Exception as exc:  # any failure to read the log or its checkpoint: the table is damaged
        raise StorageFault(f"{what}: the Delta log at {path}/_delta_log cannot be read ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0][:200]}); restore it from backup (or move the table "
                           "aside) and rerun") from None


def preflight(tables: Iterable[tuple[Path, str]], folders: Iterable[tuple[Path, str]] = ()) -> None:
    """Check every table's log and that every table folder and extra folder can take a write."""
    for path, what in tables:
        check_table(path, what)
        check_writable(path, what)
    for path, what in folders:
        check_writable(path, what)


def restrict(path: Path) -> None:
    """Give a file, or a folder and everything in it, the configured modes (``settings.FILE_MODE`` for
    files, ``settings.DIR_MODE`` for folders)."""
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


def replace_folder(staging: Path, target: Path) -> None:
    """Make the folder ``staging`` appear at ``target`` in one atomic step, replacing what was there.

    A reader sees the old folder or the new one, never a mix and never nothing (on file systems without
    ``RENAME_EXCHANGE`` the old folder is moved aside first, so a reader may briefly see nothing). The
    callers hold the delivery's lock, so no other writer races for ``target``.
    """
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
