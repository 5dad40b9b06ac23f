"""A seeded synthetic population of the region's city: residents, commuters, visitors and tourists.

The world is a template city laid out in metres around the region's ``simulation_origin`` (the default
region's city centre, whose neighbourhoods, work places and sights the template follows);
in another region it is the same template placed at that region's centre, not that city's own geography.

Every simulated feed draws from this one population, so products from different sources can be compared
with each other and with the ground truth written next to the landing files (``lake/simulation/``).
The ground truth holds raw identifiers: it is the simulator's answer key, not a pipeline table.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from jobs.common import settings

# Projection around the region's centre (its simulation_origin): metres east / north of it.
_WEST, _SOUTH, _EAST, _NORTH = settings.REGION_BBOX
ORIGIN_LAT, ORIGIN_LON = settings.REGION.simulation_origin or ((_SOUTH + _NORTH) / 2, (_WEST + _EAST) / 2)
M_PER_DEG_LAT = 110_540.0
M_PER_DEG_LON = 111_320.0 * np.cos(np.radians(ORIGIN_LAT))

# Simulated world: a box of about 22 x 17 km around the centre (inside the region's bbox: ``check_world``).
WORLD_X = (-11_000.0, 11_000.0)
WORLD_Y = (-8_500.0, 8_500.0)
# The municipality (the "area" used for resident / commuter segments): a box of about 12 x 10 km.
CITY_X = (-6_000.0, 6_000.0)
CITY_Y = (-5_500.0, 4_500.0)

# Neighbourhood centres (metres from the origin) and weights for homes.
HOME_CLUSTERS = np.array([
    (-1_500, 1_800), (-2_600, -600), (1_200, 2_900), (1_800, -3_200), (-3_800, -2_800),
    (-5_500, 3_500), (6_000, -5_000), (-8_500, 1_000), (4_500, 5_500), (-7_000, -6_000),
])
HOME_WEIGHTS = np.array([14, 14, 12, 10, 8, 8, 8, 10, 8, 8], dtype=float)
# Work places: the centre, Ørestad, Nordhavn, the harbour, Kastrup.
WORK_CLUSTERS = np.array([(0, 0), (900, 600), (1_800, -4_800), (2_500, 4_000), (-1_200, -1_800),
                          (7_500, -5_500)])
WORK_WEIGHTS = np.array([30, 15, 15, 15, 15, 10], dtype=float)
# Sights tourists visit: Tivoli, Nyhavn, the Little Mermaid, Amalienborg, Christiania, Strøget.
SIGHTS = np.array([(-80, -180), (1_500, 380), (2_400, 2_250), (1_800, 1_100), (1_700, -600), (500, 400)])

# Foreign home networks of tourists: MCC -> ISO 3166 alpha-2, weighted roughly like the default region's guests; a
# region's own country is never a tourist's.
_GUESTS = {"240": ("SE", 18), "242": ("NO", 14), "262": ("DE", 20), "234": ("GB", 12), "310": ("US", 10),
           "208": ("FR", 6), "222": ("IT", 5), "214": ("ES", 5), "204": ("NL", 5), "460": ("CN", 5),
           "238": ("DK", 10)}
TOURIST_MCCS = {mcc: country for mcc, (country, _) in _GUESTS.items() if mcc not in settings.REGION.domestic_mcc}
TOURIST_WEIGHTS = np.array([_GUESTS[mcc][1] for mcc in TOURIST_MCCS], dtype=float)
HOME_MCC = settings.REGION.domestic_mcc[0] if settings.REGION.domestic_mcc else None


def check_world() -> None:
    """Refuse to simulate in a region that cannot hold the world or names no home network.

    Raises
    ------
    ValueError
        The world's box reaches outside the region's bbox (naming the box needed), or the region states no
        ``domestic_mcc`` or ``country``.
    """
    region = settings.REGION
    if HOME_MCC is None or region.country is None:
        raise ValueError(f"the region {region.name} states no domestic_mcc and country (regions/{region.name}/"
                         "region.yaml): the simulator cannot give residents a home network")
    (south, north), (west, east) = to_lat_lon(np.array(WORLD_X), np.array(WORLD_Y))  # the world's corners
    w, s, e, n = settings.REGION_BBOX
    if not (w <= west and east <= e and s <= south and north <= n):
        raise ValueError(f"the simulated world ({west:.3f},{south:.3f},{east:.3f},{north:.3f}, about 22 x 17 km "
                         f"around {ORIGIN_LAT},{ORIGIN_LON}) reaches outside the region {region.name}'s bbox "
                         f"{settings.REGION_BBOX}: widen the bbox or move simulation_origin")


@dataclasses.dataclass(frozen=True)
class PopulationShares:
    """Shares of the simulated population by kind (the rest are residents of the city)."""

    commuters: float = 0.25   # home outside the city, work inside
    visitors: float = 0.12    # home and work outside; occasional trips into the city
    tourists: float = 0.08    # foreign SIM, hotel in the centre
    workers: float = 0.75     # share of residents with a work place


def to_lat_lon(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Convert metres east / north of the origin to latitude and longitude."""
    return ORIGIN_LAT + y / M_PER_DEG_LAT, ORIGIN_LON + x / M_PER_DEG_LON


def to_metres(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Convert latitude and longitude to metres east / north of the origin."""
    return (np.asarray(lon) - ORIGIN_LON) * M_PER_DEG_LON, (np.asarray(lat) - ORIGIN_LAT) * M_PER_DEG_LAT


def in_city(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """True where a point (metres) lies in the simulated municipality."""
    return (x >= CITY_X[0]) & (x <= CITY_X[1]) & (y >= CITY_Y[0]) & (y <= CITY_Y[1])


def _clustered(rng: np.random.Generator, n: int, centres: np.ndarray, weights: np.ndarray,
               spread: float) -> tuple[np.ndarray, np.ndarray]:
    pick = rng.choice(len(centres), size=n, p=weights / weights.sum())
    x = centres[pick, 0] + rng.normal(0, spread, n)
    y = centres[pick, 1] + rng.normal(0, spread, n)
    return np.clip(x, *WORLD_X), np.clip(y, *WORLD_Y)


def _outside_city(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Uniform points in the world but outside the city box (suburbs)."""
    xs, ys = np.empty(0), np.empty(0)
    while len(xs) < n:
        x = rng.uniform(*WORLD_X, 2 * n)
        y = rng.uniform(*WORLD_Y, 2 * n)
        keep = ~in_city(x, y)
        xs, ys = np.concatenate([xs, x[keep]]), np.concatenate([ys, y[keep]])
    return xs[:n], ys[:n]


def _inside_city(rng: np.random.Generator, n: int, centres: np.ndarray, weights: np.ndarray,
                 spread: float) -> tuple[np.ndarray, np.ndarray]:
    """Clustered points redrawn until they fall in the city (clamping would pile them on its border)."""
    xs, ys = np.empty(0), np.empty(0)
    while len(xs) < n:
        x, y = _clustered(rng, 2 * n + 10, centres, weights, spread)
        keep = in_city(x, y)
        xs, ys = np.concatenate([xs, x[keep]]), np.concatenate([ys, y[keep]])
    return xs[:n], ys[:n]


def make_population(people: int, seed: int, shares: PopulationShares | None = None) -> pd.DataFrame:
    """Draw a population with identifiers, home and work places and the true segment of each person.

    Parameters
    ----------
    people : int
        Number of people.
    seed : int
        Seed of the simulator's generator (the simulator is not privacy code).
    shares : PopulationShares, optional
        Shares by kind.

    Returns
    -------
    pandas.DataFrame
        One row per person: ``person``, ``imsi``, ``home_mcc``, ``country``, ``kind`` (resident, commuter,
        visitor, tourist), ``home_x``, ``home_y``, ``work_x``, ``work_y`` (NaN without work) in metres.
    """
    shares = shares or PopulationShares()
    rng = np.random.default_rng(seed)
    kinds = rng.choice(
        ["commuter", "visitor", "tourist", "resident"], size=people,
        p=[shares.commuters, shares.visitors, shares.tourists,
           1 - shares.commuters - shares.visitors - shares.tourists],
    )
    home_x, home_y = _clustered(rng, people, HOME_CLUSTERS, HOME_WEIGHTS, 900.0)
    work_x, work_y = _clustered(rng, people, WORK_CLUSTERS, WORK_WEIGHTS, 600.0)

    res = kinds == "resident"
    home_x[res], home_y[res] = _inside_city(rng, int(res.sum()), HOME_CLUSTERS, HOME_WEIGHTS, 900.0)
    outside = (kinds == "commuter") | (kinds == "visitor")
    home_x[outside], home_y[outside] = _outside_city(rng, int(outside.sum()))
    com = kinds == "commuter"
    work_x[com], work_y[com] = _inside_city(rng, int(com.sum()), WORK_CLUSTERS, WORK_WEIGHTS, 600.0)
    vis = kinds == "visitor"
    work_x[vis], work_y[vis] = _outside_city(rng, int(vis.sum()))
    tour = kinds == "tourist"
    # Tourists sleep in a hotel near the centre and have no work place.
    home_x[tour] = rng.normal(300, 700, tour.sum())
    home_y[tour] = rng.normal(200, 600, tour.sum())
    jobless = tour | (res & (rng.random(people) > shares.workers))
    work_x[jobless] = np.nan
    work_y[jobless] = np.nan

    check_world()
    mccs = np.full(people, HOME_MCC, dtype=object)
    codes = list(TOURIST_MCCS)
    mccs[tour] = rng.choice(codes, size=int(tour.sum()), p=TOURIST_WEIGHTS / TOURIST_WEIGHTS.sum())
    countries = np.array([TOURIST_MCCS.get(m, settings.REGION.country) for m in mccs], dtype=object)
    mncs = rng.integers(1, 30, people)
    msins = rng.choice(10**10, size=people, replace=False)
    imsi = [f"{m}{n:02d}{s:010d}" for m, n, s in zip(mccs, mncs, msins, strict=True)]
    return pd.DataFrame({
        "person": np.arange(people, dtype=np.int64), "imsi": imsi, "home_mcc": mccs, "country": countries,
        "kind": kinds, "home_x": home_x, "home_y": home_y, "work_x": work_x, "work_y": work_y,
    })
