"""Brand kits: validation with named fields, content-derived versions, retrieval from chromadb."""

from __future__ import annotations

from pathlib import Path

import pytest

from brand.kit import BrandKitError, load_kit
from brand.store import BrandStore
from tests.brand.conftest import DEMO_KIT


def test_editing_a_kit_file_changes_its_version(kit_copy: Path) -> None:
    before = load_kit(kit_copy).version
    claims = kit_copy / "claims.yaml"
    claims.write_text(claims.read_text() + "  - id: extra\n    text: A new approved claim.\n")
    after = load_kit(kit_copy).version
    assert before.startswith("1.0.0+") and after.startswith("1.0.0+")
    assert before != after


def test_missing_postal_address_is_refused_naming_the_field(kit_copy: Path) -> None:
    brand = kit_copy / "brand.yaml"
    brand.write_text(
        "\n".join(line for line in brand.read_text().splitlines() if "postal_address" not in line)
    )
    with pytest.raises(BrandKitError, match="postal_address"):
        load_kit(kit_copy)


def test_missing_file_is_named(kit_copy: Path) -> None:
    (kit_copy / "offers.yaml").unlink()
    with pytest.raises(BrandKitError, match=r"offers\.yaml"):
        load_kit(kit_copy)


def test_ingest_makes_the_version_active_and_is_idempotent(tmp_path: Path) -> None:
    store = BrandStore(tmp_path / "brand")
    assert store.version == ""
    with pytest.raises(BrandKitError, match="no brand kit"):
        _ = store.kit
    first = store.ingest(DEMO_KIT)
    second = store.ingest(DEMO_KIT)
    assert first == second == store.version
    assert store.versions() == [first]
    reopened = BrandStore(tmp_path / "brand")
    assert reopened.version == first
    assert reopened.kit.name == "Kestrel Cycle Co."


def test_new_kit_version_replaces_old_in_retrieval(tmp_path: Path, kit_copy: Path) -> None:
    store = BrandStore(tmp_path / "brand")
    old = store.ingest(DEMO_KIT)
    claims = kit_copy / "claims.yaml"
    claims.write_text(
        claims.read_text() + "  - id: tyre-levers\n    text: Tyre levers come free with tubes.\n"
    )
    new = store.ingest(kit_copy)
    assert new != old and sorted(store.versions()) == sorted([old, new])
    refs = {f.ref for f in store.search("tyre levers free with tubes", kinds=["claim"], k=10)}
    assert "tyre-levers" in refs
    assert len(refs) == 7  # only the new version's claims, not both versions'


def test_search_finds_the_relevant_claim(store: BrandStore) -> None:
    facts = store.search("how do I return an order I do not want", kinds=["claim"], k=1)
    assert facts[0].ref == "free-returns"
    assert 0 < facts[0].similarity <= 1


def test_embeddings_are_unit_length_and_separate_meaning(store: BrandStore) -> None:
    vectors = store.embed(
        ["Your basket is waiting", "You left items in your cart", "Tax filing deadline"]
    )
    assert vectors.shape == (3, 384)
    norms = (vectors**2).sum(axis=1) ** 0.5
    assert all(abs(n - 1) < 1e-4 for n in norms)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
