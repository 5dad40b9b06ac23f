"""A Spark session starts quietly (issue 34, operator): none of the JVM's start-up lines in a command's output,
Spark's own WARN level when asked for (``CDE_SPARK_LOG_LEVEL``, ``cde -v``)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.spark]

SCRIPT = ("from jobs.common.spark import get_spark\n"
          "spark = get_spark('quiet-test')\n"
          "print(spark.range(3).count())\n"
          "print(spark.sparkContext._jvm.org.apache.logging.log4j.LogManager.getRootLogger().getLevel())\n")
NOISE = ("NativeCodeLoader", "log4j profile", "Setting default log level", "To adjust logging level")


@pytest.mark.parametrize(("level", "expected"), [(None, "ERROR"), ("WARN", "WARN")])
def test_a_session_starts_without_the_jvm_s_lines(level, expected):
    env = {k: v for k, v in os.environ.items() if k != "CDE_SPARK_LOG_LEVEL"}
    if level:
        env["CDE_SPARK_LOG_LEVEL"] = level
    ran = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert ran.stdout.split() == ["3", expected]
    assert not [line for line in ran.stderr.splitlines() if any(noise in line for noise in NOISE)], ran.stderr
