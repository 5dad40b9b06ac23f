"""``/catalog.jsonld`` against the vendored SHACL shapes of mobilityDCAT-AP 1.1.0 and the DCAT-AP 2.0.1
shapes they import (``vendor/shacl/``), with pySHACL: no violation; the only warnings are the DCAT-AP
suggestion to name the publisher from the EU corporate-bodies list, which the exchange is not on. Each
dataset carries its ODRL offer."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

SHAPES = Path(__file__).resolve().parents[2] / "vendor" / "shacl"
SHAPE_FILES = ("mobilitydcat-ap_1.1.0_shacl_shapes.ttl", "dcat-ap_2.0.1_shacl_shapes.ttl",
               "dcat-ap_2.0.1_shacl_deprecateduris.ttl", "dcat-ap_2.0.1_shacl_mdr-vocabularies.shape.ttl")
ODRL = "http://www.w3.org/ns/odrl/2/"


@pytest.fixture(scope="module")
def shapes():
    import rdflib

    graph = rdflib.Graph()
    for name in SHAPE_FILES:
        graph.parse(SHAPES / name, format="turtle")
    return graph


@pytest.fixture
def catalog(tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from jobs.portal.app import create_app

    monkeypatch.setenv("CDE_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("CDE_PORTAL_DB", f"sqlite:///{tmp_path / 'portal.sqlite3'}")
    answer = TestClient(create_app()).get("/catalog.jsonld")  # public: no login
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/ld+json")
    return answer.json()


def _validate(document: dict, shapes):
    import pyshacl
    import rdflib

    data = rdflib.Graph().parse(data=json.dumps(document), format="json-ld")
    conforms, report, text = pyshacl.validate(data, shacl_graph=shapes, inference="none", allow_warnings=True)
    sh = rdflib.Namespace("http://www.w3.org/ns/shacl#")
    severities = [(report.value(r, sh.resultSeverity), str(report.value(r, sh.resultPath)))
                  for r in report.objects(None, sh.result)]  # the report's own results, not their details
    return data, conforms, severities, text


def test_the_catalogue_conforms_to_mobilitydcat_ap_and_dcat_ap(catalog, shapes):
    import rdflib

    assert catalog["@context"]["dcat"] == "http://www.w3.org/ns/dcat#"
    text = json.dumps(catalog)
    for kind in ("dcat:Catalog", "dcat:Dataset", "dcat:Distribution", "dcat:CatalogRecord", "odrl:Offer"):
        assert f'"@type": "{kind}"' in text, kind  # compacted with prefixes: types read dcat:Dataset
    data, conforms, severities, text = _validate(catalog, shapes)
    assert conforms, text
    sh = rdflib.Namespace("http://www.w3.org/ns/shacl#")
    assert all(level == sh.Warning for level, _ in severities), text
    assert {path for _, path in severities} == {"http://purl.org/dc/terms/publisher"}, text
    datasets = set(data.subjects(rdflib.RDF.type, rdflib.URIRef("http://www.w3.org/ns/dcat#Dataset")))
    assert len(datasets) >= 5  # one offer per example contract


def test_the_shapes_catch_a_dataset_without_its_mandatory_update_frequency(catalog, shapes):
    broken = copy.deepcopy(catalog)
    dataset = next(n for n in broken["@graph"] if n["@type"] == "dcat:Dataset")
    del dataset["dct:accrualPeriodicity"]
    _, conforms, _, text = _validate(broken, shapes)
    assert not conforms and "accrual periodicity" in text


def test_each_dataset_carries_an_odrl_offer_with_purpose_prohibitions_and_duties(catalog):
    from jobs.publish.portfolio import load_contracts

    contracts = load_contracts()[0]
    datasets = [n for n in catalog["@graph"] if n["@type"] == "dcat:Dataset"]
    for dataset in datasets:
        contract = contracts[dataset["dct:identifier"]]
        offer = dataset["odrl:hasPolicy"]
        assert offer["@type"] == "odrl:Offer" and offer["odrl:target"]["@id"] == dataset["@id"]
        permission = offer["odrl:permission"]
        assert permission["odrl:action"]["@id"] == "odrl:use"
        constraint = permission["odrl:constraint"]
        assert constraint["odrl:leftOperand"]["@id"] == "odrl:purpose"
        assert constraint["odrl:rightOperand"] == contract.purpose
        assert {p["odrl:action"]["@id"] for p in offer["odrl:prohibition"]} == {"cde:reidentify", "odrl:sell"}
        duties = {d["odrl:action"]["@id"]: d for d in permission["odrl:duty"]}
        assert set(duties) == {"odrl:attribute", "odrl:delete"}
        assert duties["odrl:delete"]["odrl:constraint"]["odrl:rightOperand"]["@value"] == \
            f"P{contract.retention_days}D"
