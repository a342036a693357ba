"""The brand kit: what a brand folder holds, validated, with a content-derived version.

A kit is a folder of YAML files (see examples/brand/README.md). Its version is the declared
`version` plus a hash of every file, so an edited kit never shares a version with the old one and
every creative can name exactly which kit it used.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["Block", "BrandKit", "BrandKitError", "Claim", "Offer", "Product", "load_kit"]

KIT_FILES = (
    "brand.yaml",
    "claims.yaml",
    "catalog.yaml",
    "offers.yaml",
    "exemplars.yaml",
    "blocks.yaml",
)


class BrandKitError(ValueError):
    """A brand folder is missing a file or a field; the message names which and why."""


class Voice(BaseModel):
    summary: str
    tone: list[str]
    do: list[str] = Field(default_factory=list)
    dont: list[str] = Field(default_factory=list)


class Rules(BaseModel):
    max_reading_grade: float = 9.0
    conformance_threshold: float = Field(default=0.7, ge=0, le=1)
    lengths: dict[str, int] = Field(default_factory=dict)


class Claim(BaseModel):
    id: str
    text: str


class Product(BaseModel):
    sku: str
    name: str
    price: str
    category: str = ""
    url: str
    description: str


class Offer(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    title: str
    code: str
    ends: str
    terms: str
    discount_pct: float | None = None
    discount_amount: str | None = None


class Block(BaseModel):
    subject: str
    preheader: str
    headline: str
    body: str
    offer_line: str = "{offer_terms}"
    cta_text: str
    cta_url: str
    sms: str
    push_title: str
    push_body: str
    script: str | None = None
    claims: list[str] = Field(default_factory=list)


class BrandKit(BaseModel):
    """Everything the creative agent and the conformance scorer know about a brand."""

    name: str
    version: str
    locale: str = "en"
    sender_name: str
    website: str
    postal_address: str = Field(min_length=10)
    support_email: str
    voice: Voice
    rules: Rules = Field(default_factory=Rules)
    banned_phrases: list[str]
    disclaimers: dict[str, list[str]] = Field(default_factory=dict)
    claims: list[Claim]
    products: list[Product]
    offers: list[Offer]
    exemplars: list[str] = Field(min_length=1)
    anti_exemplars: list[str] = Field(min_length=1)
    blocks: dict[str, Block]

    def offer(self, offer_id: str | None) -> Offer | None:
        return next((o for o in self.offers if o.id == offer_id), None)

    def product(self, sku: str | None) -> Product | None:
        return next((p for p in self.products if p.sku == sku), None)

    def claim(self, claim_id: str) -> Claim | None:
        return next((c for c in self.claims if c.id == claim_id), None)


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise BrandKitError(f"{path.name}: missing from the brand folder {path.parent}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise BrandKitError(f"{path.name}: not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise BrandKitError(f"{path.name}: must hold a mapping at the top level")
    return data


def load_kit(directory: Path) -> BrandKit:
    """Read and validate a brand folder; the version is `<declared>+<sha256 of the files>`."""
    directory = Path(directory)
    if not directory.is_dir():
        raise BrandKitError(f"{directory}: not a folder")
    merged: dict[str, Any] = {}
    hasher = hashlib.sha256()
    for name in KIT_FILES:
        path = directory / name
        data = _read_yaml(path)
        hasher.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
        merged.update(data)
    declared = str(merged.get("version", "0"))
    merged["version"] = f"{declared}+{hasher.hexdigest()[:12]}"
    try:
        return BrandKit.model_validate(merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise BrandKitError(f"brand kit field {field!r}: {first['msg']}") from exc
