"""The catalogue as linked data: ``/catalog.jsonld``, mobilityDCAT-AP 1.1.0 on DCAT-AP 2.0.1, each dataset
carrying its ODRL 2.2 offer (docs/portal.md, "The catalogue as linked data").

JSON-LD in compacted form with a context of prefixes only, so every term keeps its vocabulary's prefix
(types read ``dcat:Dataset``). Concepts from controlled vocabularies (EU frequencies, file types, languages,
mobility themes) are described in the graph itself (type, label, scheme), so a validator needs no network.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from jobs.common import settings

CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "odrl": "http://www.w3.org/ns/odrl/2/",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "vcard": "http://www.w3.org/2006/vcard/ns#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "adms": "http://www.w3.org/ns/adms#",
    "mobilitydcatap": "https://w3id.org/mobilitydcat-ap#",
    "cde": "urn:cde:terms#",
}
EU = "http://publications.europa.eu/resource/authority/"
MOBILITY = "https://w3id.org/mobilitydcat-ap/"
# schedules (cron) to the EU frequency they deliver at
FREQUENCIES = {"hourly": "HOURLY", "daily": "DAILY", "weekly": "WEEKLY", "monthly": "MONTHLY"}
FILE_TYPES = {"parquet": ("PARQUET", "application/vnd.apache.parquet"), "csv": ("CSV", "text/csv"),
              "excel_csv": ("CSV", "text/csv"), "geojson": ("GEOJSON", "application/geo+json"),
              "geoparquet": ("PARQUET", "application/vnd.apache.parquet"), "ndjson": ("JSON", "application/x-ndjson")}


def _typed(value: str, datatype: str) -> dict[str, str]:
    return {"@value": value, "@type": datatype}


def _concept(iri: str, label: str, scheme: str, kind: str | None = None) -> dict[str, Any]:
    """A concept of a controlled vocabulary, described in place: type, label and scheme."""
    types = ["skos:Concept"] + ([kind] if kind else [])
    return {"@id": iri, "@type": types, "skos:prefLabel": {"@value": label, "@language": "en"},
            "skos:inScheme": {"@id": scheme}}


def frequency(schedule: str) -> str:
    """The EU frequency a cron schedule delivers at (``0 6 * * *``: daily)."""
    minute, hour, day, month, weekday = (schedule.split() + ["*"] * 5)[:5]
    if hour == "*":
        return "HOURLY"
    if day == "*" and weekday == "*":
        return "DAILY"
    if day == "*":
        return "WEEKLY"
    return "MONTHLY"


def catalog_document(offers: list[dict[str, Any]], base: str, modified: dt.date) -> dict[str, Any]:
    """The catalogue graph (JSON-LD, compacted with prefixes) of every offer at the portal ``base`` URL."""
    base = base.rstrip("/")
    exchange = {"@id": f"{base}/#exchange", "@type": "foaf:Agent", "foaf:name": "City Data Exchange"}
    english = {"@id": f"{EU}language/ENG", "@type": ["dct:LinguisticSystem", "skos:Concept"],
               "skos:prefLabel": {"@value": "English", "@language": "en"}, "skos:inScheme": {"@id": f"{EU}language"}}
    region = settings.REGION
    place = {"@id": f"{base}/#{region.name}", "@type": "dct:Location",
             "skos:prefLabel": {"@value": region.title, "@language": "en"}}
    if region.place:  # a gazetteer's URI (GeoNames) where the region file names one
        place |= {"dct:identifier": {"@id": region.place}, "skos:inScheme": {"@id": "http://sws.geonames.org"}}
    transport = _concept(f"{EU}data-theme/TRAN", "Transport", f"{EU}data-theme")
    graph: list[dict[str, Any]] = [exchange, english, place, transport, {"@id": f"{base}/catalog",
                                   "@type": "foaf:Document"}]
    for scheme, title in ((f"{EU}language", "Language"), (f"{EU}frequency", "Frequency"),
                          (f"{EU}file-type", "File type"), (f"{EU}data-theme", "Data theme")):
        graph.append({"@id": scheme, "@type": "skos:ConceptScheme", "dct:title": {"@value": title, "@language": "en"}})
    datasets, records = [], []
    seen: set[str] = set()
    today = _typed(modified.isoformat(), "xsd:date")
    for offer in offers:
        dataset_iri = f"{base}/catalog/{offer['id']}"
        supplier_agents = []
        for supplier in offer["suppliers"]:
            agent_iri = f"{base}/#supplier-{supplier['id']}"
            supplier_agents.append({"@id": agent_iri})
            if agent_iri not in seen:
                seen.add(agent_iri)
                graph.append({"@id": agent_iri, "@type": "foaf:Agent", "foaf:name": supplier["name"]})
        freq = f"{EU}frequency/{frequency(offer['schedule'])}"
        if freq not in seen:
            seen.add(freq)
            graph.append(_concept(freq, frequency(offer["schedule"]).lower(), f"{EU}frequency", "dct:Frequency"))
        distributions = []
        for fmt in offer["formats"]:
            code, media = FILE_TYPES.get(fmt, ("BIN", "application/octet-stream"))
            file_type = f"{EU}file-type/{code}"
            if file_type not in seen:
                seen.add(file_type)
                graph.append(_concept(file_type, code, f"{EU}file-type", "dct:MediaTypeOrExtent"))
            media_type = f"https://www.iana.org/assignments/media-types/{media}"
            if media_type not in seen:
                seen.add(media_type)
                graph.append({"@id": media_type, "@type": "dct:MediaType"})
            distributions.append({
                "@id": f"{dataset_iri}#distribution-{fmt}", "@type": "dcat:Distribution",
                "dct:title": {"@value": f"{offer['title']} ({fmt})", "@language": "en"},
                "dcat:accessURL": {"@id": dataset_iri}, "dct:format": {"@id": file_type},
                "dcat:mediaType": {"@id": media_type},
                "mobilitydcatap:MobilityDataStandard": {"@id": f"{MOBILITY}mobility-data-standard/other"},
                "mobilitydcatap:applicationLayerProtocol": {"@id": f"{MOBILITY}application-layer-protocol/https"},
                "dct:license": {"@id": f"{dataset_iri}#licence"},
                "dct:rights": {"@id": f"{dataset_iri}#rights"},
            })
        accuracy = "; ".join(f"{a['metric']}: 95% of released values within ±{a['ci95_half_width']:g} "
                             f"{a['value_unit']} of the true value" for a in offer["accuracy"])
        datasets.append({"@id": dataset_iri})
        graph.append({
            "@id": dataset_iri, "@type": "dcat:Dataset",
            "dct:identifier": offer["id"],
            "dct:title": {"@value": offer["title"], "@language": "en"},
            "dct:description": {"@value": f"{offer['description']} Expected accuracy: {accuracy}. Values below "
                                          f"k = {offer['k']} people after noise are suppressed.",
                                "@language": "en"},
            "dct:publisher": {"@id": exchange["@id"]},
            "dct:rightsHolder": supplier_agents,
            "dct:accrualPeriodicity": {"@id": freq},
            "dct:spatial": {"@id": place["@id"]},
            "dct:language": {"@id": english["@id"]},
            "dcat:theme": {"@id": transport["@id"]},
            "mobilitydcatap:mobilityTheme": {"@id": f"{MOBILITY}mobility-theme/traffic-data"},
            "mobilitydcatap:georeferencingMethod": {"@id": f"{MOBILITY}georeferencing-method/geocoordinates"},
            "dcat:keyword": [{"@value": m, "@language": "en"} for m in offer["metrics"]],
            "dcat:distribution": distributions,
            "dcat:contactPoint": {"@id": f"{base}/#contact"},
            "cde:k": _typed(str(offer["k"]), "xsd:integer"),
            "odrl:hasPolicy": offer_policy(offer, dataset_iri, exchange["@id"]),
        })
        graph.append({"@id": f"{dataset_iri}#licence", "@type": "dct:LicenseDocument",
                      "rdfs:label": {"@value": offer["licence"], "@language": "en"}})
        graph.append({"@id": f"{dataset_iri}#rights", "@type": "dct:RightsStatement",
                      "dct:type": {"@id": f"{MOBILITY}conditions-for-access-and-usage/contract-license"},
                      "rdfs:label": {"@value": f"A contract for the purpose: {offer['purpose']}",
                                     "@language": "en"}})
        record = f"{base}/catalog/{offer['id']}#record"
        records.append({"@id": record})
        graph.append({"@id": record, "@type": "dcat:CatalogRecord", "foaf:primaryTopic": {"@id": dataset_iri},
                      "dct:created": today, "dct:modified": today, "dct:language": {"@id": english["@id"]}})
    graph.append({"@id": f"{base}/#contact", "@type": "vcard:Kind", "vcard:fn": "City Data Exchange",
                  "vcard:hasEmail": {"@id": "mailto:exchange@cde.example"}})
    graph.append({
        "@id": f"{base}/catalog", "@type": "dcat:Catalog",
        "dct:title": {"@value": "City Data Exchange catalogue", "@language": "en"},
        "dct:description": {"@value": "Anonymous people-movement products (differentially private counts per "
                                      "H3 cell or zone and time bin) offered under machine-enforced contracts.",
                            "@language": "en"},
        "foaf:homepage": {"@id": f"{base}/catalog"},
        "dct:publisher": {"@id": exchange["@id"]},
        "dct:spatial": {"@id": place["@id"]},
        "dct:language": {"@id": english["@id"]},
        "dct:modified": today,
        "dcat:themeTaxonomy": {"@id": f"{EU}data-theme"},
        "dcat:dataset": datasets,
        "dcat:record": records,
    })
    return {"@context": CONTEXT, "@graph": graph}


def offer_policy(offer: dict[str, Any], target: str, assigner: str) -> dict[str, Any]:
    """The dataset's ODRL 2.2 offer: use for the contract's purpose only; no re-identification, no resale;
    attribution, and deletion once the retention period has passed."""
    return {
        "@id": f"{target}#offer", "@type": "odrl:Offer",
        "odrl:uid": {"@id": f"{target}#offer"},
        "odrl:assigner": {"@id": assigner},
        "odrl:target": {"@id": target},
        "odrl:permission": {
            "@type": "odrl:Permission", "odrl:action": {"@id": "odrl:use"}, "odrl:target": {"@id": target},
            "odrl:constraint": {"@type": "odrl:Constraint", "odrl:leftOperand": {"@id": "odrl:purpose"},
                                "odrl:operator": {"@id": "odrl:eq"}, "odrl:rightOperand": offer["purpose"]},
            "odrl:duty": [
                {"@type": "odrl:Duty", "odrl:action": {"@id": "odrl:attribute"}},
                {"@type": "odrl:Duty", "odrl:action": {"@id": "odrl:delete"},
                 "odrl:constraint": {"@type": "odrl:Constraint", "odrl:leftOperand": {"@id": "odrl:elapsedTime"},
                                     "odrl:operator": {"@id": "odrl:gteq"},
                                     "odrl:rightOperand": _typed(f"P{offer['retention_days']}D", "xsd:duration")}},
            ],
        },
        "odrl:prohibition": [
            {"@type": "odrl:Prohibition", "odrl:action": {"@id": "cde:reidentify"}, "odrl:target": {"@id": target}},
            {"@type": "odrl:Prohibition", "odrl:action": {"@id": "odrl:sell"}, "odrl:target": {"@id": target}},
        ],
    }
