"""The one SparkSession builder.

``local[*]`` by default; ``CDE_SPARK_MASTER`` overrides it (``spark://...``, ``k8s://...``, ``yarn``).
Every session runs in UTC and writes Parquet timestamps as ``TIMESTAMP_MICROS`` so delta-rs reads them.
Delta tables are read and written by delta-spark, whose pinned jars ``make`` fetched into ``.jars``
(``CDE_JARS_DIR``); new tables get the protocol both engines read (reader 1, writer 2, no deletion vectors).
A lake on an object store (``CDE_LAKE=s3://...``) adds Hadoop's S3A and the AWS SDK (also pinned in
``jars.lock``) and reads ``s3://`` through S3A.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from jobs.common import settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


REPO_ROOT = Path(__file__).resolve().parents[2]
LOG4J2_PROPERTIES = Path(__file__).with_name("spark-log4j2.properties")  # Spark's JVM logging (quiet)


def pinned_jars(group: str) -> list[str]:
    """Return the pinned jars of one group of ``jars.lock`` (``delta``, or ``s3`` for S3A), as paths in
    ``CDE_JARS_DIR``.

    Raises
    ------
    RuntimeError
        When a jar is missing (``make install`` fetches them).
    """
    folder = Path(settings.setting("CDE_JARS_DIR") or REPO_ROOT / ".jars")
    jars = []
    for line in (REPO_ROOT / "jars.lock").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        coordinates, _sha256, jar_group = line.split()
        if jar_group != group:
            continue
        _group_id, artifact, version = coordinates.split(":")
        jar = folder / f"{artifact}-{version}.jar"
        if not jar.is_file():
            raise RuntimeError(f"{jar} is missing: `make install` fetches the pinned jars of jars.lock from Maven")
        jars.append(str(jar))
    return jars


def delta_jars() -> list[str]:
    """Return the pinned delta-spark jars (``delta-spark``, ``delta-storage``)."""
    return pinned_jars("delta")


def s3_settings() -> dict[str, str]:
    """Spark settings for a lake on an S3-compatible store: ``s3://`` read by Hadoop's S3A (as on EMR), its
    endpoint and region from the standard AWS environment (``AWS_ENDPOINT_URL``, ``AWS_REGION``), credentials
    from S3A's default chain (the environment's keys, else the instance or task role)."""
    conf = {
        "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.AbstractFileSystem.s3.impl": "org.apache.hadoop.fs.s3a.S3A",
    }
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:  # an S3-compatible endpoint (MinIO, moto on loopback): path-style keys, TLS as its URL says
        conf["spark.hadoop.fs.s3a.endpoint"] = endpoint
        conf["spark.hadoop.fs.s3a.path.style.access"] = "true"
        conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] = str(endpoint.startswith("https")).lower()
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        conf["spark.hadoop.fs.s3a.endpoint.region"] = region
    return conf


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

    master = master or settings.setting("CDE_SPARK_MASTER")
    shuffle_partitions = str(settings.setting("CDE_SHUFFLE_PARTITIONS"))  # AQE coalesces small ones
    # UTC everywhere; our log4j2 file keeps the JVM's start-up lines out of a command's output
    java_options = (f"-Duser.timezone=UTC -Dlog4j2.configurationFile={LOG4J2_PROPERTIES.as_uri()} "
                    f"-Dcde.spark.log.level={settings.setting('CDE_SPARK_LOG_LEVEL')}")
    builder = (
        SparkSession.builder.appName(app_name)
        .master(master)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.host", os.environ["SPARK_LOCAL_IP"])
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .config("spark.sql.shuffle.partitions", shuffle_partitions)
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.ui.enabled", settings.setting("CDE_SPARK_UI"))
        .config("spark.driver.memory", settings.setting("CDE_SPARK_DRIVER_MEMORY"))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
        .config("spark.driver.extraJavaOptions", java_options)
        .config("spark.executor.extraJavaOptions", java_options)
        .config("spark.jars", ",".join(delta_jars()))
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        # The protocol delta-rs reads and writes too: pinned, so a Delta upgrade cannot raise it silently.
        .config("spark.databricks.delta.properties.defaults.minReaderVersion", "1")
        .config("spark.databricks.delta.properties.defaults.minWriterVersion", "2")
        .config("spark.databricks.delta.properties.defaults.enableDeletionVectors", "false")
        # Retention vacuums with 0 hours kept (deleted rows must physically go); the check would refuse it.
        .config("spark.databricks.delta.retentionDurationCheck.enabled", "false")
        # Every write is a commit, even one that changes nothing (a rerun of an empty day): its version is
        # what run records and audits name.
        .config("spark.databricks.delta.skipRecordingEmptyCommits", "false")
        # Log replay of a table's state: Delta's default of 50 tasks cost 6 of every 9 s per small write here.
        .config("spark.databricks.delta.snapshotPartitions", str(settings.setting("CDE_DELTA_SNAPSHOT_PARTITIONS")))
        # VACUUM records VACUUM START / END commits (their metrics count the files removed) on every store; Delta
        # leaves them out on S3 by default, where our per-table lock now makes the commit safe.
        .config("spark.databricks.delta.vacuum.logging.enabled", "true")
        # VACUUM lists a table's files in this many tasks: Spark's default of 10,000 took 85 s on a tiny table.
        .config("spark.sql.sources.parallelPartitionDiscovery.parallelism", shuffle_partitions)
    )
    if settings.lake_is_remote():
        # On the class path, not in spark.jars: the SDK bundle is large, and every node has the jars (make).
        s3_classpath = os.pathsep.join(pinned_jars("s3"))
        builder = (builder.config("spark.driver.extraClassPath", s3_classpath)
                   .config("spark.executor.extraClassPath", s3_classpath))
        for key, value in s3_settings().items():
            builder = builder.config(key, value)
    spark = builder.getOrCreate()
    # py4j logs at INFO from __del__ at interpreter exit, after log streams are closed.
    logging.getLogger("py4j").setLevel(logging.WARNING)
    spark.sparkContext.setLogLevel(settings.setting("CDE_SPARK_LOG_LEVEL"))
    return spark
