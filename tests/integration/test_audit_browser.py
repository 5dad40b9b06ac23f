"""The audit HTML in a real headless browser (Debian's chromium): key figures visible, a screenshot saved."""

from __future__ import annotations

import shutil
import subprocess
import tempfile

import h3
import pandas as pd
import pytest

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _audit() -> tuple[dict, pd.DataFrame]:
    cells = sorted(h3.grid_disk(h3.latlng_to_cell(55.6761, 12.5683, 9), 1))
    product = pd.DataFrame({"h3_cell": cells, "bin_start": "2026-03-02T08:00:00+01:00", "bin_minutes": 60,
                            "metric": "unique_people", "value": [None, 12, 30, None, 45, 18, None],
                            "suppressed": [True, False, False, True, False, False, True]})
    product["value"] = product["value"].astype("Int64")
    budget = {"contract_epsilon_spent": 1.0, "contract_epsilon_left": 9.0, "contract_epsilon_budget": 10.0,
              "global_epsilon_spent": 1.0, "global_epsilon_left": 19.0, "global_epsilon_cap": 20.0,
              "global_delta_spent": 0.0, "global_delta_left": 1e-6, "global_delta_cap": 1e-6, "period_days": 30,
              "global_rho_spent": 0.5, "global_composed": {"epsilon": 5.8, "delta": 1e-6, "text": "basic composition 6"},
              "selection_delta_spent": 0.0, "lookback_days": 0, "unit_class": "person"}
    from jobs.privacy import PrivacyCost, composed
    from jobs.publish.audit import privacy_in_words
    from jobs.publish.shared_releases import K_NOTE

    audit = {
        "generated_at": "2026-03-03T06:00:00+00:00",
        "contract": {"id": "kk-inner-city-presence", "version": "1.0.0", "name": "Inner-city presence per hour",
                     "buyer": "kobenhavns-kommune", "purpose": "Planning public spaces.",
                     "legal_basis": "art6_1_e_public_task", "suppliers": ["nordic-telco"], "sources": ["telco"],
                     "file": "kk-inner-city-presence.yaml", "file_sha256": "ab" * 32, "area_population": 57000,
                     "approvals": [{"supplier": "nordic-telco", "approver": "Privacy office",
                                    "approved_at": "2026-03-01T09:00:00+00:00"}]},
        "delivery": {"delivery_id": "20260302-20260303-v1.0.0-c0359a1f", "window_start": "2026-03-02T00:00:00+01:00",
                     "window_end": "2026-03-03T00:00:00+01:00", "files": [], "gold_version": 0},
        "inputs": {"ingest_runs": []},
        "privacy": {"in_words": privacy_in_words(
                        1.0, 0.0, composed([PrivacyCost(1.0, 0.0, 0.5, "geometric")] * 10, 1e-6),
                        composed([PrivacyCost(1.0, 0.0, 0.5, "geometric")] * 365, 1e-6), 20.0, 30), "k_protects": K_NOTE,
                    "unit": "person", "unit_note": "one pseudonymous person", "bounds": {"max_cells_per_day": 12},
                    "sensitivity_l1": 12, "mechanism": "geometric", "noise_scale": 12.0, "ci95_half_width": 36,
                    "k": 10, "guarantee": "No released value is below k after noise.",
                    "epsilon_this_delivery": 1.0, "delta_this_delivery": 0.0, "budget": budget,
                    "composition": "basic", "yearly_epsilon_ceiling_contract": 130,
                    "yearly_epsilon_ceiling_global": 260,
                    "metrics": [{"metric": "unique_people", "release_id": "rel-1", "unit": "person",
                                 "bound": "per person and day at most 12 (cell, bin) pairs, once per pair",
                                 "mechanism": "geometric", "epsilon": 1.0, "delta": 0.0, "sensitivity_l1": 12,
                                 "sensitivity_l2": 4, "noise_sensitivity": 12, "noise_scale": 12.0,
                                 "ci95_half_width": 36, "value_unit": "people", "lookback_days": 0,
                                 "k_rule": "values below k = 10 people are suppressed"}]},
        "releases": [{"release_id": "rel-1", "metric": "unique_people", "ledger_entry_id": "e1", "ledger_seq": 0,
                      "reused_stored_release": False, "epsilon": 1.0, "delta": 0.0, "inputs": {},
                      "stages": ["bound contributions", "add noise"]}],
        "result": {"rows": 7, "released": 4, "suppressed": 3, "cells": 7, "bins": 1},
    }
    return audit, product


@pytest.mark.integration
def test_audit_report_renders_with_its_key_figures(tmp_path):
    if BROWSER is None:
        pytest.skip("chromium is not installed (Debian package 'chromium'; .ci/run installs it)")
    from jobs.publish.audit import render_html

    audit, product = _audit()
    page = tmp_path / "audit.html"
    page.write_text(render_html(audit, product), encoding="utf-8")
    profile = tempfile.mkdtemp()
    shot = page.with_suffix(".png")
    subprocess.run([BROWSER, *FLAGS, f"--user-data-dir={profile}", "--window-size=1200,1800",
                    f"--screenshot={shot}", page.as_uri()], check=True, capture_output=True, timeout=120)
    dom = subprocess.run([BROWSER, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
                         check=True, capture_output=True, text=True, timeout=120).stdout
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    for figure in ("cells released", "cells suppressed", "epsilon spent", "contract epsilon left", "9 of 10",
                   "19 of 20", "Computation stages, in order", "<svg", "Metric unique_people",
                   "at most 12 (cell, bin) pairs", "nordic-telco: Privacy office at 2026-03-01T09:00:00+00:00",
                   "57,000 (validation refuses", "What this means for one person",
                   "a 50% belief can become at most 73.1%", "protected by differential privacy",
                   # an approval recorded before approvals carried an identity keeps its meaning and says so
                   "made without an identity (recorded before approvals carried one)"):
        assert figure in dom, figure
    assert 'id="fig-released">cells released<b>4</b>' in dom.replace("\n", "")
    assert dom.count("<polygon") == 7
    # the map says what it shades, with a value legend and a scale bar (issue 34, privacy officer)
    assert "largest released value over every bin of the delivery" in dom
    assert 'class="legend"' in dom and 'class="scale-bar"' in dom and "largest released value (people)" in dom
