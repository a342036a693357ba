from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from decisioning.catalog import DEFAULT_CATALOG_PATH, CatalogError, load_catalog, parse_catalog


def _demo() -> dict:
    return yaml.safe_load(DEFAULT_CATALOG_PATH.read_text())


def test_demo_catalog_covers_the_required_interventions() -> None:
    catalog = load_catalog()
    channels = {a.channel for a in catalog.actions}
    assert {"email", "sms", "push", "web", "csm", "audience"} <= channels
    assert {a.offer.get("discount_pct") for a in catalog.actions} >= {10, 15}
    placements = {p for a in catalog.actions for p in a.applicability.placements}
    assert {"home_hero", "cart_sidebar"} <= placements
    assert catalog.get("csm_outreach").needs_review
    assert len(catalog.actions) <= 16  # a demo catalog a person can read in one sitting


def test_unknown_channel_error_names_the_action_and_field() -> None:
    data = _demo()
    data["actions"][2]["channel"] = "fax"
    with pytest.raises(CatalogError, match=r"actions\[2\]\(cart_reminder_email\)\.channel"):
        parse_catalog(data)


def test_duplicate_action_ids_are_refused() -> None:
    data = _demo()
    data["actions"].append(dict(data["actions"][0]))
    with pytest.raises(CatalogError, match="duplicate action id 'winback_email_15'"):
        parse_catalog(data)


def test_rule_with_a_non_numeric_threshold_is_refused() -> None:
    data = _demo()
    data["actions"][0]["eligibility"] = [{"field": "computed.churn_risk", "op": ">=", "value": "x"}]
    with pytest.raises(CatalogError, match=r"eligibility\[0\]"):
        parse_catalog(data)


def test_missing_file_and_bad_yaml_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read catalog"):
        load_catalog(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: [unclosed\n")
    with pytest.raises(CatalogError, match="not valid YAML"):
        load_catalog(bad)


def test_get_unknown_action_raises_key_error() -> None:
    with pytest.raises(KeyError, match="no action 'nope'"):
        load_catalog().get("nope")
