"""Which jars each make target fetches (issue 34, operator): the S3A jars (about 690 MB) only where a lake may be
in a bucket (make test, make install-s3, CDE_LAKE=s3://...), never for a demo on a local folder. Read from
make's dry run (-n) against an empty jar folder: nothing is fetched."""

from __future__ import annotations

import re
import subprocess

import pytest

from jobs.common import settings


def _groups(tmp_path, *args: str) -> set[str]:
    ran = subprocess.run(["make", "-n", *args, f"JARS={tmp_path / 'jars'}"], cwd=settings.REPO_ROOT,
                         capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    return set(re.findall(r'\$group" = "([a-z0-9]+)"', ran.stdout))


@pytest.mark.parametrize(("args", "groups"), [
    (("demo",), {"delta"}),
    (("airflow",), {"delta"}),
    (("demo", "CDE_LAKE=s3://bucket/lake"), {"delta", "s3"}),
    (("install-s3",), {"s3"}),
    (("test",), {"delta", "s3"}),
])
def test_the_s3_jars_are_fetched_only_where_a_lake_may_be_in_a_bucket(tmp_path, args, groups):
    assert _groups(tmp_path, *args) == groups
