"""Wifi feed: access-point sightings (JSON lines) -> ``bronze/wifi_events``.

Supplier format (UTF-8 JSON lines, ``lake/landing/wifi/<YYYY-MM-DD>/*.jsonl``), one object per line:

| field | format |
|---|---|
| ``mac`` | six hex pairs separated by ``:`` or ``-`` (never stored: pseudonymised at the door) |
| ``ap_id`` | string, an ``ap_id`` of ``reference/aps.csv`` |
| ``first_seen``, ``last_seen`` | ISO-8601 with ``Z`` or an offset; ``last_seen`` not before ``first_seen`` |
| ``rssi`` | integer dBm, -120 to 0 (a JSON number or a string) |
| ``kind`` | ``probe`` or ``association`` |

Most phones use randomised MAC addresses (the locally administered bit, 0x02 of the first octet, is set).
An association uses a per-network random MAC that stays stable on that network, so it is kept as a
pseudonymous device (the privacy unit of wifi releases is a device on a network; one person may hold
several). A probe from a randomised MAC is not a person and has no bound: it is quarantined as
``randomised_mac`` and counted in the run record, never used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobs.ingest.presence import PRESENCE_BIN_MINUTES, count_presence
from jobs.ingest.spec import FeedSpec, IdentifierRule, Reference, first_error, timestamp_column

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

KINDS = ("probe", "association")
# One rule for ingest and opt-out lists: lower case, ``-`` separators as ``:``.
MAC_RULE = IdentifierRule(lower=True, replace=(("-", ":"),))
MAC_PATTERN = r"^[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(\1[0-9A-Fa-f]{2}){4}$"


def _aps():
    from jobs.ingest.reference import load_points  # loads numpy, pandas, pyarrow, shapely: only when called

    return load_points("aps.csv", "ap_id", ("venue",))


def randomised_column(mac: Column) -> Column:
    """Spark expression: True when a MAC (``aa:bb:...``) has the locally administered bit set."""
    from pyspark.sql import functions as F

    first_octet = F.conv(F.substring(mac, 1, 2), 16, 10).try_cast("int")
    return first_octet.bitwiseAND(F.lit(2)) != 0


def type_check(records: DataFrame) -> DataFrame:
    """Add ``event_ts_utc``, ``identifier_value``, typed columns and ``type_error`` to wifi records."""
    from pyspark.sql import functions as F

    first = timestamp_column(F.col("first_seen"))
    last = timestamp_column(F.col("last_seen"))
    mac = MAC_RULE.spark(F.col("mac"))
    kind = F.lower(F.col("kind"))
    rssi = F.when(F.col("rssi").rlike(r"^-?[0-9]{1,4}$"), F.col("rssi").try_cast("int"))
    error = first_error([
        (~F.col("mac").rlike(MAC_PATTERN), "mac: not six hex pairs separated by : or -"),
        (F.coalesce(F.col("ap_id"), F.lit("")) == "", "ap_id: empty"),
        (first.isNull(), "first_seen: not ISO-8601 with Z or an offset"),
        (last.isNull(), "last_seen: not ISO-8601 with Z or an offset"),
        (last < first, "last_seen: before first_seen"),
        (rssi.isNull() | (rssi < -120) | (rssi > 0), "rssi: not an integer dBm from -120 to 0"),
        (~kind.isin(*KINDS), "kind: not probe | association"),
    ])
    return records.select("*", first.alias("event_ts_utc"), last.alias("last_seen_utc"), mac.alias("identifier_value"),
                          kind.alias("kind_clean"), rssi.alias("rssi_int"),
                          randomised_column(mac).alias("randomised"), error.alias("type_error"))


def policy_reason() -> Column:
    """Probes from randomised MACs are not people: ``randomised_mac``."""
    from pyspark.sql import functions as F

    return F.when((F.col("kind_clean") == "probe") & F.col("randomised"), F.lit("randomised_mac"))


def bronze_columns() -> list:
    """The wifi columns of bronze (besides the common ones)."""
    from pyspark.sql import functions as F

    return [F.col("ap_id"), F.col("last_seen_utc").alias("last_seen"), F.col("rssi_int").alias("rssi"),
            F.col("kind_clean").alias("kind"), F.col("randomised")]


# A sighting's span counts for at most this long (a phone left on a desk is not there all day).
MAX_SIGHTING_HOURS = 12


def presence_from_sightings(sightings: DataFrame, source: str = "wifi",
                            bin_minutes: int = PRESENCE_BIN_MINUTES) -> DataFrame:
    """Presence of wifi sightings: every bin a sighting overlaps (``event_ts`` to ``last_seen``)."""
    from pyspark.sql import functions as F

    seconds = bin_minutes * 60
    first_bin = F.floor(F.unix_timestamp("event_ts") / seconds) * seconds
    last = F.least(F.col("last_seen"), F.col("event_ts") + F.expr(f"INTERVAL {MAX_SIGHTING_HOURS} HOURS"))
    last_bin = F.floor(F.unix_timestamp(last) / seconds) * seconds
    rows = sightings.filter(F.col("h3_cell").isNotNull()).select(
        "pseudo_id", F.lit(source).alias("source"), "event_date",
        F.explode(F.sequence(first_bin, last_bin, F.lit(seconds).cast("long"))).alias("_bin"),
        "h3_cell", F.lit(None).cast("string").alias("home_mcc"), "key_period")
    return count_presence(rows.withColumn("bin_start", F.timestamp_seconds("_bin")).drop("_bin"))


SPEC = FeedSpec(
    name="wifi",
    placement=("each sighting at its access point's position, in one resolution-10 H3 cell"),
    fields=("mac", "ap_id", "first_seen", "last_seen", "rssi", "kind"),
    file_format="jsonl",
    identifier="mac",
    type_check=type_check,
    references=(Reference("ap_id", _aps),),
    bronze_columns=bronze_columns,
    policy_reason=policy_reason,
    unit="device-network",
    identifier_rule=MAC_RULE,
    presence=presence_from_sightings,
    trips_from="stays",
    data_subjects="wifi devices seen by the supplier's access points (one person may hold several)",
    personal_data="pseudonymised device address, sighting times, access point placed in H3, signal strength, kind",
)
