"""``cde audit dpia``: a DPIA draft a privacy officer reads without tools, every figure computed (issue 34)."""

from __future__ import annotations

import datetime as dt
import json

from jobs.cli import main
from jobs.privacy import plan_for, window_shapes
from jobs.publish.portfolio import find_contract


def test_the_dpia_draft_follows_wp248_and_states_the_computed_figures(lake_root, capsys):
    assert main(["audit", "dpia", "kk-inner-city-presence"]) == 0
    assert "DPIA draft" in capsys.readouterr().out
    folder = lake_root / "audit" / "kk-inner-city-presence"
    document = json.loads((folder / "dpia.json").read_text())
    html = (folder / "dpia.html").read_text()
    for heading in ("1. Systematic description of the processing", "2. Necessity and proportionality",
                    "3. The privacy figures, as measured", "4. Risks to people", "6. To complete by the controller"):
        assert heading in html, heading
    assert [r["risk"] for r in document["risks"][:2]] == ["Singling out (WP29 05/2014)", "Linkability (WP29 05/2014)"]
    assert any(r["risk"] == "Inference (WP29 05/2014)" for r in document["risks"])
    # the figures are the plan's own, for the largest window the schedule makes
    contract = find_contract("kk-inner-city-presence")
    window = window_shapes(contract.schedule, contract.bin_minutes)[0]
    assert window[1] - window[0] == dt.timedelta(days=1)
    plan = plan_for(contract, "unique_people", *window)
    (figures,) = document["metrics"]
    assert figures["noise_scale"] == plan.noise()["scale"] and figures["k_statement"] == plan.k_statement(219)
    assert abs(figures["expected_phantom_rows"] - plan.phantom_probability(219) * plan.domain_size()) < 1e-9
    assert document["description"]["legal_basis"].startswith("necessary for a task carried out")
    assert "dpo@nordic-telco.example" in html and "{'" not in html
    assert document["to_complete"] and "The DPO&#39;s advice" in html
