"""The one SparkSession builder.

``local[*]`` by default; ``CDE_SPARK_MASTER`` overrides it (``spark://...``, ``k8s://...``, ``yarn``).
Every session runs in UTC and writes Parquet timestamps as ``TIMESTAMP_MICROS`` so delta-rs reads them.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def get_spark(app_name: str = "cde", master: str | None = None) -> SparkSession:
    """Return the process's SparkSession, creating it on first use.

    Parameters
    ----------
    app_name : str
        Name shown in the Spark UI and logs.
    master : str, optional
        Spark master URL; defaults to ``CDE_SPARK_MASTER`` or ``local[*]``.

    Returns
    -------
    SparkSession
        The shared session (one per process).
    """
    # Executors must run the same interpreter as the driver (the venv's).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    # Stay on loopback: this machine's other interfaces lead nowhere.
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    master = master or os.environ.get("CDE_SPARK_MASTER", "local[*]")
    shuffle_partitions = os.environ.get("CDE_SHUFFLE_PARTITIONS", "32")  # AQE coalesces small ones
    builder = (
        SparkSession.builder.appName(app_name)
        .master(master)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.host", os.environ["SPARK_LOCAL_IP"])
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .config("spark.sql.shuffle.partitions", shuffle_partitions)
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.ui.enabled", os.environ.get("CDE_SPARK_UI", "false"))
        .config("spark.driver.memory", os.environ.get("CDE_SPARK_DRIVER_MEMORY", "2g"))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
        .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.executor.extraJavaOptions", "-Duser.timezone=UTC")
    )
    spark = builder.getOrCreate()
    # py4j logs at INFO from __del__ at interpreter exit, after log streams are closed.
    logging.getLogger("py4j").setLevel(logging.WARNING)
    spark.sparkContext.setLogLevel(os.environ.get("CDE_SPARK_LOG_LEVEL", "ERROR"))
    return spark
