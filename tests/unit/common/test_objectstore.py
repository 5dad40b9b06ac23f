"""Lake paths on an S3-compatible endpoint (the moto server on loopback): the pathlib subset the jobs use, the
conditional writes that locks and logs rely on, and the storage operations that differ from a local folder."""

from __future__ import annotations

import concurrent.futures
import json

import pytest

from jobs.common import storage
from jobs.common.objectstore import S3Path, is_remote, lake_path


def test_names_and_joins_follow_pathlib():
    path = S3Path("s3://bucket/lake") / "outbox" / "buyer/contract" / "manifest.json"
    assert str(path) == "s3://bucket/lake/outbox/buyer/contract/manifest.json"
    assert (path.name, path.stem, path.suffix) == ("manifest.json", "manifest", ".json")
    assert str(path.parent) == "s3://bucket/lake/outbox/buyer/contract"
    assert str(path.with_name("data.csv")) == "s3://bucket/lake/outbox/buyer/contract/data.csv"
    assert path.relative_to(S3Path("s3://bucket/lake")).as_posix() == "outbox/buyer/contract/manifest.json"
    assert S3Path("s3a://bucket//lake/./x") == S3Path("s3://bucket/lake/x")
    assert is_remote("s3://b/k") and not is_remote("/tmp/lake")
    assert isinstance(lake_path("s3://b/k"), S3Path) and not isinstance(lake_path("lake"), S3Path)
    with pytest.raises(ValueError, match="'..'"):
        S3Path("s3://bucket/lake/../etc")
    with pytest.raises(TypeError):  # no __fspath__: an object key never becomes a local file by accident
        open(path)  # noqa: SIM115


def test_files_and_folders_on_the_endpoint(s3_lake):
    (s3_lake / "ops" / "a.json").write_text(json.dumps({"x": 1}))
    (s3_lake / "ops" / "sub" / "b.txt").write_bytes(b"two")
    (s3_lake / "outbox" / "buyer" / "c1" / "d1" / "manifest.json").write_text("{}")
    (s3_lake / "outbox" / "buyer" / "c1" / "d2" / "data.csv").write_text("v\n")
    ops = s3_lake / "ops"
    assert ops.is_dir() and not ops.is_file() and ops.exists()
    assert (ops / "a.json").is_file() and json.loads((ops / "a.json").read_text()) == {"x": 1}
    assert not (ops / "missing").exists()
    assert sorted(p.name for p in ops.iterdir()) == ["a.json", "sub"]
    assert [p.name for p in (s3_lake / "outbox").glob("*/*/*/manifest.json")] == ["manifest.json"]
    assert sorted(p.name for p in (s3_lake / "outbox").glob("*/*/*")) == ["d1", "d2"]
    assert sorted(p.name for p in s3_lake.rglob("*.csv")) == ["data.csv"]
    assert (ops / "sub" / "b.txt").stat().st_size == 3
    assert (ops / "sub").stat().st_mtime > 0  # a prefix: the newest object under it
    with pytest.raises(FileNotFoundError):
        (ops / "missing").read_bytes()
    (ops / "a.json").unlink()
    assert not (ops / "a.json").exists()
    storage.remove_tree(s3_lake / "outbox")
    assert not (s3_lake / "outbox").exists() and (ops / "sub" / "b.txt").exists()


def test_ranged_reads_seek_like_a_local_file(s3_lake, tmp_path):
    body = b"".join(f"line {i:05d}\n".encode() for i in range(20_000))
    remote, local = s3_lake / "landing" / "f.csv", tmp_path / "f.csv"
    remote.write_bytes(body)
    local.write_bytes(body)
    for path in (remote, local):
        with path.open("rb") as f:
            f.seek(123_456)
            f.readline()
            start = f.tell()
            assert f.read(22) == body[start:start + 22]
            f.seek(0)
            assert f.readline() == b"line 00000\n"
    with remote.open("r") as text:
        assert text.readline() == "line 00000\n"


def test_a_file_written_in_a_failed_block_never_appears(s3_lake):
    target = s3_lake / "outbox" / "half.csv"
    with pytest.raises(RuntimeError), target.open("w") as f:
        f.write("partial")
        raise RuntimeError("crash mid-write")
    assert not target.exists()
    with target.open("w") as f:
        f.write("whole")
    assert target.read_text() == "whole"


def test_conditional_writes(s3_lake):
    lease = s3_lake / "ops" / "locks" / "x.lock"
    first = lease.put_if_absent(b"one")
    assert first and lease.put_if_absent(b"two") is None and lease.read_bytes() == b"one"
    second = lease.put_if_match(b"three", first)
    assert second and lease.put_if_match(b"four", first) is None  # the version read is gone
    assert not lease.delete_if_match(first) and lease.delete_if_match(second) and not lease.exists()
    assert storage.create_exclusive(s3_lake / "ops" / "k.json", "a") is True
    assert storage.create_exclusive(s3_lake / "ops" / "k.json", "b") is False
    assert (s3_lake / "ops" / "k.json").read_text() == "a"
    with pytest.raises(FileExistsError), (s3_lake / "ops" / "k.json").open("x") as f:
        f.write("c")


def test_concurrent_appends_lose_no_line(s3_lake):
    log = s3_lake / "ops" / "notifications.jsonl"

    def append(i: int) -> None:
        storage.append_line(log, json.dumps({"i": i}))

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(append, range(40)))
    assert sorted(r["i"] for r in storage.read_json_lines(log)) == list(range(40))


def test_a_delivery_replaced_on_the_store_keeps_only_the_new_files(s3_lake, tmp_path):
    target = s3_lake / "outbox" / "buyer" / "contract" / "d1"
    for version, names in ((1, ("data.csv", "data.geojson")), (2, ("data.csv",))):
        staging = tmp_path / f"staging-{version}"
        staging.mkdir()
        for name in (*names, "manifest.json"):
            (staging / name).write_text(f"v{version} {name}")
        storage.replace_folder(staging, target)
        assert not staging.exists()
    assert sorted(p.name for p in target.iterdir()) == ["data.csv", "manifest.json"]
    assert (target / "manifest.json").read_text() == "v2 manifest.json"


def test_a_bucket_that_cannot_take_a_write_is_refused_before_any_spend(s3_lake, monkeypatch):
    from jobs.errors import StorageFault

    storage.check_writable(s3_lake / "gold" / "releases", "gold/releases")  # a writable bucket passes
    missing = S3Path("s3://cde-no-such-bucket/lake/gold")
    with pytest.raises(StorageFault, match="cannot write under s3://cde-no-such-bucket"):
        storage.check_writable(missing, "gold/releases")
