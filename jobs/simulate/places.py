"""Synthetic reference data of the other feeds: wifi access points, counting cameras, transit stops.

Names carry Danish letters on purpose (suppliers' files do).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from jobs.simulate.population import SIGHTS, WORK_CLUSTERS, to_lat_lon

VENUE_KINDS = ["Café", "Bageri", "Butik", "Bibliotek", "Station", "Kontor", "Hotel", "Museum"]
STREETS = ["Østerbrogade", "Nørrebrogade", "Vesterbrogade", "Amagerbrogade", "Strøget", "Købmagergade",
           "Gothersgade", "Frederiksberg Allé", "Åboulevard", "Blågårdsgade", "Jægersborggade", "Ørestads Boulevard"]
SQUARES = ["Rådhuspladsen", "Kongens Nytorv", "Nyhavn", "Nørreport", "Dronning Louises Bro", "Israels Plads",
           "Amagertorv", "Gammeltorv", "Christianshavns Torv", "Enghave Plads", "Sankt Hans Torv",
           "Søndermarken", "Halmtorvet", "Islands Brygge", "Kastrup Strandpark", "Valby Torv"]
MODES_BY_KIND = {"metro": "metro|bus", "train": "train|bus", "bus": "bus", "harbour": "harbour_bus|bus",
                 "bike": "bike"}


def _near(rng: np.random.Generator, centres: np.ndarray, n: int, spread: float) -> np.ndarray:
    pick = rng.integers(0, len(centres), n)
    return centres[pick] + rng.normal(0, spread, (n, 2))


def make_aps(seed: int, count: int = 400) -> pd.DataFrame:
    """Wifi access points at venues near work places and sights: ``ap_id, lat, lon, venue`` (+ x, y)."""
    rng = np.random.default_rng([seed, 11])
    xy = np.vstack([_near(rng, WORK_CLUSTERS.astype(float), count * 3 // 4, 700.0),
                    _near(rng, SIGHTS.astype(float), count - count * 3 // 4, 250.0)])
    lat, lon = to_lat_lon(xy[:, 0], xy[:, 1])
    venues = [f"{VENUE_KINDS[i % len(VENUE_KINDS)]} {STREETS[i % len(STREETS)]} {i}" for i in range(count)]
    return pd.DataFrame({"ap_id": [f"AP-{i:05d}" for i in range(count)], "lat": np.round(lat, 6),
                         "lon": np.round(lon, 6), "venue": venues, "x": xy[:, 0], "y": xy[:, 1]})


def make_cameras(seed: int) -> pd.DataFrame:
    """Counting cameras on squares and busy streets: ``camera_id, lat, lon, direction`` (+ x, y)."""
    rng = np.random.default_rng([seed, 12])
    n = len(SQUARES)
    xy = np.vstack([SIGHTS.astype(float), _near(rng, WORK_CLUSTERS.astype(float), n - len(SIGHTS), 400.0)])
    lat, lon = to_lat_lon(xy[:, 0], xy[:, 1])
    return pd.DataFrame({"camera_id": [f"CAM-{i:03d}" for i in range(n)], "lat": np.round(lat, 6),
                         "lon": np.round(lon, 6), "direction": rng.choice(["N-S", "E-W"], n),
                         "name": SQUARES, "x": xy[:, 0], "y": xy[:, 1]})


def make_stops(seed: int, spacing_m: float = 900.0) -> pd.DataFrame:
    """Transit stops: bus stops on a grid, metro and train stations, harbour buses and bike docks.

    Returns ``stop_id, name, lat, lon, modes`` (modes joined with ``|``) plus x, y.
    """
    rng = np.random.default_rng([seed, 13])
    xs = np.arange(-10_500, 10_501, spacing_m)
    ys = np.arange(-8_000, 8_001, spacing_m)
    gx, gy = np.meshgrid(xs, ys)
    grid = np.column_stack([gx.ravel(), gy.ravel()]) + rng.normal(0, 120, (gx.size, 2))
    kinds = rng.choice(["bus", "bus", "bus", "metro", "train", "bike"], len(grid))
    harbour = np.column_stack([np.linspace(500, 2_500, 6), np.linspace(-1_500, 2_500, 6)])
    xy = np.vstack([grid, harbour])
    kinds = np.concatenate([kinds, ["harbour"] * len(harbour)])
    lat, lon = to_lat_lon(xy[:, 0], xy[:, 1])
    names = [f"{STREETS[i % len(STREETS)]} ({k})" for i, k in enumerate(kinds)]
    return pd.DataFrame({"stop_id": [f"{8_600_000 + i}" for i in range(len(xy))], "name": names,
                         "lat": np.round(lat, 6), "lon": np.round(lon, 6),
                         "modes": [MODES_BY_KIND[k] for k in kinds], "x": xy[:, 0], "y": xy[:, 1]})
