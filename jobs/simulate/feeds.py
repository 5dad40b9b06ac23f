"""Synthetic wifi, camera and ticket feeds from the same day plans as the telco feed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from jobs.common import settings
from jobs.simulate.movement import TRAVEL_SEGMENTS, DayPlans
from jobs.simulate.telco import iso_texts

AP_RADIUS_M = 120.0
CAMERA_RADIUS_M = 150.0
STEP_S = 300.0
# Ticket products per segment: the region's own names (its region.yaml), else generic ones.
GENERIC_PRODUCTS = {"resident": ["Personal card", "Commuter pass", "Period pass"],
                    "commuter": ["Commuter pass", "Personal card"],
                    "visitor": ["Anonymous card", "Single ticket"],
                    "tourist": ["City card", "Tourist pass", "Single ticket"]}
PRODUCTS = {segment: list((settings.REGION.simulation_ticket_products or {}).get(segment, names))
            for segment, names in GENERIC_PRODUCTS.items()}


def device_columns(people: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Per person: a universal (global) MAC, whether the phone randomises, and a transit card id."""
    rng = np.random.default_rng([seed, 21])
    n = len(people)
    octets = rng.integers(0, 256, (n, 6))
    octets[:, 0] &= 0b11111100  # universal, unicast
    macs = [":".join(f"{o:02x}" for o in row) for row in octets]
    alphabet = np.array(list("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"))
    cards = ["".join(rng.choice(alphabet, 16)) for _ in range(n)]
    has_card = rng.random(n) < np.where(people["kind"].to_numpy() == "tourist", 0.4, 0.7)
    return pd.DataFrame({"mac": macs, "randomises": rng.random(n) < 0.85,
                         "card_id": np.where(has_card, cards, None)})


def _random_local_macs(rng: np.random.Generator, n: int) -> list[str]:
    octets = rng.integers(0, 256, (n, 6))
    octets[:, 0] = (octets[:, 0] & 0b11111100) | 0b10  # locally administered, unicast
    return [":".join(f"{o:02x}" for o in row) for row in octets]


def _network_mac(global_mac: str, ap_index: int) -> str:
    """A stable per-network random MAC, as phones use for associations (a network = 10 neighbouring APs)."""
    digest = bytearray(hashlib.sha256(f"{global_mac}|{ap_index // 10}".encode()).digest()[:6])
    digest[0] = (digest[0] & 0b11111100) | 0b10
    return ":".join(f"{o:02x}" for o in digest)


def simulate_wifi(people: pd.DataFrame, devices: pd.DataFrame, plans: DayPlans, aps: pd.DataFrame,
                  seed: int) -> pd.DataFrame:
    """Wifi sightings: associations (per-network MACs) and probes (mostly randomised MACs) during stays."""
    rng = np.random.default_rng([seed, plans.date.toordinal(), 3])
    tree = cKDTree(aps[["x", "y"]].to_numpy())
    rows = []
    n = len(people)
    for seg in (2, 4):
        person = np.arange(n)
        start = plans.starts[person, seg]
        end = plans.segment_end(person, np.full(n, seg))
        x = plans.fx[person, seg] + rng.normal(0, 40, n)
        y = plans.fy[person, seg] + rng.normal(0, 40, n)
        dist, ap = tree.query(np.column_stack([x, y]))
        seen = (dist < AP_RADIUS_M) & (end - start > 600) & (rng.random(n) < 0.8)
        for p in np.flatnonzero(seen):
            s, e, a = start[p], end[p], int(ap[p])
            gmac, randomises = devices["mac"].iat[p], bool(devices["randomises"].iat[p])
            if rng.random() < 0.4:  # connects: one association record for the stay
                mac = _network_mac(gmac, a) if randomises else gmac
                rows.append((p, mac, a, s, e, "association"))
            probes = max(int((e - s) // 900), 1)
            probe_macs = _random_local_macs(rng, probes) if randomises else [gmac] * probes
            for k in range(probes):
                t = s + k * 900 + rng.uniform(0, 300)
                rows.append((p, probe_macs[k], a, t, min(t + rng.uniform(5, 120), e), "probe"))
    frame = pd.DataFrame(rows, columns=["person", "mac", "ap", "first", "last", "kind"])
    frame = frame.sort_values("first", kind="stable").reset_index(drop=True)
    use_utc = rng.random(len(frame)) < 0.5
    frame["first_seen"] = iso_texts(plans.instants(frame["first"].to_numpy()), use_utc)
    frame["last_seen"] = iso_texts(plans.instants(frame["last"].to_numpy()), use_utc)
    frame["ap_id"] = aps["ap_id"].to_numpy()[frame["ap"].to_numpy()]
    frame["rssi"] = rng.integers(-92, -35, len(frame))
    # Suppliers differ: some write MACs upper-case with dashes.
    dashed = rng.random(len(frame)) < 0.2
    frame.loc[dashed, "mac"] = frame.loc[dashed, "mac"].str.upper().str.replace(":", "-")
    return frame


def write_wifi(frame: pd.DataFrame, folder: Path) -> Path:
    """Write wifi sightings as JSON lines (rssi as a number, now and then as a string)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "wifi_sightings.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for i, r in enumerate(frame.itertuples(index=False)):
            rssi = int(r.rssi) if i % 17 else str(int(r.rssi))
            f.write(json.dumps({"mac": r.mac, "ap_id": r.ap_id, "first_seen": r.first_seen,
                                "last_seen": r.last_seen, "rssi": rssi, "kind": r.kind}) + "\n")
    return path


def simulate_cameras(plans: DayPlans, cameras: pd.DataFrame, seed: int, interval_minutes: int = 15) -> pd.DataFrame:
    """Counts of people entering and leaving each camera's field of view per interval."""
    rng = np.random.default_rng([seed, plans.date.toordinal(), 4])
    n = plans.starts.shape[0]
    steps = np.arange(0, plans.day_seconds, STEP_S)
    tree = cKDTree(cameras[["x", "y"]].to_numpy())
    inside_prev = np.full(n, -1)
    counts: dict[tuple[int, int, str], int] = {}
    per_interval = interval_minutes * 60
    for t in steps:
        x, y, _ = plans.positions(np.arange(n), np.full(n, t), rng, jitter_m=60.0)
        dist, cam = tree.query(np.column_stack([x, y]))
        inside = np.where(dist < CAMERA_RADIUS_M, cam, -1)
        slot = int(t // per_interval)
        for c in inside[(inside >= 0) & (inside != inside_prev)]:
            counts[(int(c), slot, "in")] = counts.get((int(c), slot, "in"), 0) + 1
        for c in inside_prev[(inside_prev >= 0) & (inside != inside_prev)]:
            counts[(int(c), slot, "out")] = counts.get((int(c), slot, "out"), 0) + 1
        inside_prev = inside
    slots = int(np.ceil(plans.day_seconds / per_interval))
    rows = []
    for c in range(len(cameras)):
        for slot in range(slots):
            rows.append((cameras["camera_id"].iat[c], slot * per_interval, interval_minutes,
                         counts.get((c, slot, "in"), 0), counts.get((c, slot, "out"), 0)))
    frame = pd.DataFrame(rows, columns=["camera_id", "second", "interval_minutes", "count_in", "count_out"])
    frame["interval_start"] = iso_texts(plans.instants(frame["second"].to_numpy()),
                                        np.zeros(len(frame), dtype=bool))
    frame["class"] = "pedestrian"
    return frame[["camera_id", "interval_start", "interval_minutes", "count_in", "count_out", "class"]]


def simulate_tickets(people: pd.DataFrame, devices: pd.DataFrame, plans: DayPlans, stops: pd.DataFrame,
                     seed: int) -> pd.DataFrame:
    """Transit trips for longer travel segments of card holders: check-in and (mostly) check-out."""
    rng = np.random.default_rng([seed, plans.date.toordinal(), 5])
    tree = cKDTree(stops[["x", "y"]].to_numpy())
    stop_modes = [m.split("|") for m in stops["modes"]]
    rows = []
    n = len(people)
    has_card = devices["card_id"].notna().to_numpy()
    for seg in TRAVEL_SEGMENTS:
        person = np.arange(n)
        length = np.hypot(plans.tx[:, seg] - plans.fx[:, seg], plans.ty[:, seg] - plans.fy[:, seg])
        rides = has_card & (length > 1_500) & (rng.random(n) < 0.6)
        start = plans.starts[person, seg]
        end = plans.segment_end(person, np.full(n, seg))
        _, origin = tree.query(np.column_stack([plans.fx[:, seg], plans.fy[:, seg]]))
        _, dest = tree.query(np.column_stack([plans.tx[:, seg], plans.ty[:, seg]]))
        for p in np.flatnonzero(rides & (origin != dest)):
            common = [m for m in stop_modes[origin[p]] if m in stop_modes[dest[p]]]
            mode = common[0] if common else stop_modes[origin[p]][0]
            checked_out = rng.random() > 0.05
            kind = people["kind"].iat[p]
            rows.append((p, devices["card_id"].iat[p], start[p] + 60, stops["stop_id"].iat[origin[p]],
                         end[p] - 60 if checked_out else np.nan,
                         stops["stop_id"].iat[dest[p]] if checked_out else "", mode,
                         PRODUCTS[kind][p % len(PRODUCTS[kind])]))
    frame = pd.DataFrame(rows, columns=["person", "card_id", "in_s", "check_in_stop", "out_s", "check_out_stop",
                                        "mode", "product"])
    frame = frame.sort_values("in_s", kind="stable").reset_index(drop=True)
    frame["check_in_ts"] = iso_texts(plans.instants(frame["in_s"].to_numpy()), np.zeros(len(frame), dtype=bool))
    out = frame["out_s"].fillna(0).to_numpy()
    frame["check_out_ts"] = np.where(frame["out_s"].isna(), "",
                                     iso_texts(plans.instants(out), np.zeros(len(frame), dtype=bool)))
    return frame


TICKET_COLUMNS = ["card_id", "check_in_ts", "check_in_stop", "check_out_ts", "check_out_stop", "mode", "product"]
CAMERA_COLUMNS = ["camera_id", "interval_start", "interval_minutes", "count_in", "count_out", "class"]
