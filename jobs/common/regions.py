"""Regions: where a deployment works, as configuration rather than code.

A region is a folder ``regions/<name>/`` holding ``region.yaml``::

    name: copenhagen
    title: Greater Copenhagen
    time_zone: Europe/Copenhagen       # IANA name: local days, time bins, schedules, key rotation, Airflow
    bbox: [12.30, 55.55, 12.75, 55.80]  # west, south, east, north (degrees, WGS 84)
    boundary: boundary.geojson         # optional: a polygon inside the bbox; the bbox alone otherwise
    home_area: areas/kobenhavns-kommune.geojson  # optional: whose residents count as ``resident``
    place: https://sws.geonames.org/2618425/     # optional: a gazetteer's URI (the catalogue's dct:spatial)
    domestic_mcc: ["238"]                        # the country's mobile country codes: others are tourists

and an ``areas/`` folder of GeoJSON areas a contract may name (``area: areas/indre-by.geojson``) when its own
folder does not hold the file. ``CDE_REGION`` picks the region (``jobs.common.settings``); Copenhagen is the
default. ``cde regions add`` writes a new one.

Light at import (settings imports it) and independent of settings, which reads the region from here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

REGIONS_DIR = Path(__file__).resolve().parents[2] / "regions"
DEFAULT_REGION = "copenhagen"
NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class RegionError(ValueError):
    """A region that cannot be used; the message names the region file and the field."""


@dataclasses.dataclass(frozen=True)
class Region:
    """One region's settings.

    Attributes
    ----------
    name, title : str
        Its id (the folder's name) and a name for people.
    time_zone : str
        IANA time zone of its local days and bins.
    bbox : tuple of float
        West, south, east, north (degrees, WGS 84).
    boundary : dict or None
        A GeoJSON Polygon or MultiPolygon inside the bbox, or None (the bbox is the boundary).
    folder : Path
        The region's folder (``areas/`` and the boundary file live there).
    home_area : str or None
        The area (relative to ``folder``) whose residents count as ``resident`` in segments.
    place : str or None
        A gazetteer's URI for the region (GeoNames), for the catalogue's ``dct:spatial``.
    domestic_mcc : tuple of str
        The mobile country codes (ITU-T E.212, three digits) of the region's country: a phone whose home
        network has another is a ``tourist`` in segments.
    country : str or None
        The region's country (ISO 3166 alpha-2), the simulator's home country of residents.
    simulation_origin : tuple of float or None
        Latitude and longitude the simulator's world is centred on (default: the bbox's centre).
    simulation_ticket_products : dict or None
        The simulator's ticket product names per segment (``resident``, ``commuter``, ``visitor``,
        ``tourist``), as the region's transit operator names them (default: generic names).
    """

    name: str
    title: str
    time_zone: str
    bbox: tuple[float, float, float, float]
    boundary: dict | None
    folder: Path
    home_area: str | None = None
    place: str | None = None
    domestic_mcc: tuple[str, ...] = ()
    country: str | None = None
    simulation_origin: tuple[float, float] | None = None
    simulation_ticket_products: dict[str, tuple[str, ...]] | None = None

    @property
    def zone(self) -> ZoneInfo:
        """The time zone as a ``ZoneInfo``."""
        return ZoneInfo(self.time_zone)

    @property
    def areas_dir(self) -> Path:
        """The folder of areas contracts may name."""
        return self.folder / "areas"


def parse_bbox(text: Any) -> tuple[float, float, float, float]:
    """West, south, east, north from ``"W,S,E,N"`` or a list of four numbers.

    Raises
    ------
    ValueError
        Not four numbers, a longitude outside -180..180 or latitude outside -90..90, west not below east or
        south not below north (a box crossing the antimeridian is not supported).
    """
    parts = text.split(",") if isinstance(text, str) else text
    try:
        values = tuple(float(p) for p in parts)
    except (TypeError, ValueError):
        raise ValueError(f"{text!r} is not four numbers west,south,east,north") from None
    if len(values) != 4:
        raise ValueError(f"{text!r} is not four numbers west,south,east,north")
    west, south, east, north = values
    if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= 90 and -90 <= north <= 90):
        raise ValueError(f"{text!r}: longitudes lie in -180..180 and latitudes in -90..90")
    if not (west < east and south < north):
        raise ValueError(f"{text!r}: west must be below east and south below north (in that order: W,S,E,N)")
    return values  # type: ignore[return-value]


def check_time_zone(name: Any) -> str:
    """An IANA time zone name whose UTC offsets are whole hours, returned as given.

    Bins are floors of UTC hours and quarter hours (``jobs.common.timebins``), which are local bins only where
    every offset is a whole number of hours: a zone such as Asia/Kolkata (+05:30) is refused, naming why.

    Raises
    ------
    ValueError
        Unknown zone, or an offset that is not a whole number of hours in the years around now.
    """
    try:
        zone = ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone name (such as Europe/Madrid)") from None
    year = dt.date.today().year
    for month_start in (dt.datetime(y, m, 1, 12, tzinfo=zone) for y in (year - 1, year, year + 1)
                        for m in range(1, 13)):
        offset = month_start.utcoffset()
        if offset is not None and offset.total_seconds() % 3600:
            minutes = int(offset.total_seconds() // 60)
            text = f"{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
            raise ValueError(f"{name}: its UTC offset {text} is not a whole number of hours; hourly bins are "
                             "floors of UTC hours, so such a zone is not supported")
    return str(name)


def _polygon(document: Any, where: str) -> dict:
    """The Polygon or MultiPolygon of a GeoJSON geometry, Feature or one-feature FeatureCollection."""
    if isinstance(document, dict) and document.get("type") == "FeatureCollection":
        features = document.get("features") or []
        document = features[0] if len(features) == 1 else None
    if isinstance(document, dict) and document.get("type") == "Feature":
        document = document.get("geometry")
    if not isinstance(document, dict) or document.get("type") not in ("Polygon", "MultiPolygon"):
        raise RegionError(f"{where}: must be a GeoJSON Polygon or MultiPolygon (or one Feature holding one)")
    return document


def _inside_bbox(geometry: dict, bbox: tuple[float, float, float, float]) -> bool:
    def points(coordinates):
        if coordinates and isinstance(coordinates[0], (int, float)):
            yield coordinates
        else:
            for part in coordinates:
                yield from points(part)

    west, south, east, north = bbox
    return all(west <= x <= east and south <= y <= north for x, y, *_ in points(geometry.get("coordinates") or []))


def load_region(name: str, root: Path = REGIONS_DIR) -> Region:
    """Read ``<root>/<name>/region.yaml``.

    Raises
    ------
    RegionError
        Unknown region (naming the known ones) or a field that is missing or wrong (naming it).
    """
    import yaml  # PyYAML is light, but only regions read YAML here

    if not NAME.match(str(name)):
        raise RegionError(f"CDE_REGION: {name!r} is not a region name (lower-case letters, digits and -)")
    folder = Path(root) / name
    path = folder / "region.yaml"
    if not path.is_file():
        known = sorted(p.parent.name for p in Path(root).glob("*/region.yaml"))
        raise RegionError(f"CDE_REGION: no region {name!r} (looked for {path}); known: {', '.join(known) or 'none'}")
    where = f"regions/{name}/region.yaml"
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise RegionError(f"{where}: cannot be read as YAML ({exc})") from None
    if not isinstance(document, dict):
        raise RegionError(f"{where}: a region is a YAML mapping")
    unknown = set(document) - {"name", "title", "time_zone", "bbox", "boundary", "home_area", "place",
                               "domestic_mcc", "country", "simulation_origin", "simulation_ticket_products"}
    if unknown:
        raise RegionError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    if document.get("name") != name:
        raise RegionError(f"{where}: name: {document.get('name')!r} differs from its folder's name {name!r}")
    try:
        time_zone = check_time_zone(document.get("time_zone"))
    except ValueError as exc:
        raise RegionError(f"{where}: time_zone: {exc}") from None
    try:
        bbox = parse_bbox(document.get("bbox"))
    except ValueError as exc:
        raise RegionError(f"{where}: bbox: {exc}") from None
    boundary = None
    if document.get("boundary"):
        boundary_path = folder / str(document["boundary"])
        try:
            boundary = _polygon(json.loads(boundary_path.read_text(encoding="utf-8")), f"{where}: boundary")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RegionError(f"{where}: boundary: {boundary_path} cannot be read as GeoJSON ({exc})") from None
        if not _inside_bbox(boundary, bbox):
            raise RegionError(f"{where}: boundary: reaches outside the bbox {bbox}")
    domestic = document.get("domestic_mcc") or []
    if not isinstance(domestic, list) or not all(re.fullmatch(r"[0-9]{3}", str(m)) for m in domestic):
        raise RegionError(f"{where}: domestic_mcc: {domestic!r} is not a list of three-digit mobile country codes")
    country = document.get("country")
    if country is not None and not re.fullmatch(r"[A-Z]{2}", str(country)):
        raise RegionError(f"{where}: country: {country!r} is not an ISO 3166 alpha-2 code such as DK")
    origin = document.get("simulation_origin")
    if origin is not None:
        try:
            lat, lon = (float(v) for v in origin)
        except (TypeError, ValueError):
            raise RegionError(f"{where}: simulation_origin: {origin!r} is not [latitude, longitude]") from None
        west, south, east, north = bbox
        if not (south < lat < north and west < lon < east):
            raise RegionError(f"{where}: simulation_origin: {origin!r} lies outside the bbox {bbox}")
        origin = (lat, lon)
    products = document.get("simulation_ticket_products")
    if products is not None:
        if not isinstance(products, dict) or not all(
                isinstance(v, list) and v and all(isinstance(n, str) and n for n in v) for v in products.values()):
            raise RegionError(f"{where}: simulation_ticket_products: a mapping of segment to a list of product "
                              "names")
        products = {str(k): tuple(v) for k, v in products.items()}
    home_area = document.get("home_area")
    if home_area is not None and not (folder / str(home_area)).is_file():
        raise RegionError(f"{where}: home_area: {folder / str(home_area)} not found")
    return Region(name=name, title=str(document.get("title") or name), time_zone=time_zone, bbox=bbox,
                  boundary=boundary, folder=folder.resolve(), home_area=home_area,
                  place=str(document["place"]) if document.get("place") else None,
                  domestic_mcc=tuple(str(m) for m in domestic), country=country, simulation_origin=origin,
                  simulation_ticket_products=products)


def write_region(name: str, time_zone: str, bbox: Any, boundary: Path | None = None, title: str | None = None,
                 domestic_mcc: list[str] | tuple[str, ...] = (), root: Path = REGIONS_DIR) -> Region:
    """Write a new region folder (``region.yaml``, ``areas/``, the boundary copied in) and return it read back.

    Raises
    ------
    RegionError
        A bad name, time zone, bbox or boundary (naming the field), or a region of that name exists already.
    """
    import yaml

    if not NAME.match(str(name)):
        raise RegionError(f"name: {name!r} is not a region name (lower-case letters, digits and -)")
    folder = Path(root) / name
    if (folder / "region.yaml").exists():
        raise RegionError(f"name: region {name!r} exists already ({folder / 'region.yaml'})")
    try:
        time_zone = check_time_zone(time_zone)
    except ValueError as exc:
        raise RegionError(f"--time-zone: {exc}") from None
    try:
        west, south, east, north = parse_bbox(bbox)
    except ValueError as exc:
        raise RegionError(f"--bbox: {exc}") from None
    if not all(re.fullmatch(r"[0-9]{3}", str(m)) for m in domestic_mcc):
        raise RegionError(f"--domestic-mcc: {list(domestic_mcc)} are not three-digit mobile country codes")
    document: dict[str, Any] = {"name": name, "title": title or name, "time_zone": time_zone,
                                "bbox": [west, south, east, north]}
    if domestic_mcc:
        document["domestic_mcc"] = [str(m) for m in domestic_mcc]
    text = None
    if boundary is not None:
        try:
            text = Path(boundary).read_text(encoding="utf-8")
            geometry = _polygon(json.loads(text), "--boundary")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RegionError(f"--boundary: {boundary} cannot be read as GeoJSON ({exc})") from None
        if not _inside_bbox(geometry, (west, south, east, north)):
            raise RegionError(f"--boundary: {boundary} reaches outside the bbox {west},{south},{east},{north}")
        document["boundary"] = "boundary.geojson"
    (folder / "areas").mkdir(parents=True, exist_ok=True)
    if text is not None:
        (folder / "boundary.geojson").write_text(text, encoding="utf-8")
    (folder / "region.yaml").write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return load_region(name, root)


def region_names(root: Path = REGIONS_DIR) -> list[str]:
    """The names of the regions under ``root``."""
    return sorted(p.parent.name for p in Path(root).glob("*/region.yaml"))
