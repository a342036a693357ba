"""The brand DNA store: versioned brand kits plus a chromadb collection of brand facts.

Facts (voice rules, claims, products, offers, exemplars, disclaimers) are embedded with the local
MiniLM model and kept in a chromadb persistent collection under `data_dir/brand/chroma`; the
validated kit itself is kept as JSON per version, and `current` names the active version.
Nothing here touches the network: telemetry is off and the embedder is local.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from brand.embeddings import MiniLmEmbedding
from brand.kit import BrandKit, BrandKitError, load_kit
from brand.variants import VariantCache
from core.settings import Settings

__all__ = ["BrandFact", "BrandStore"]

COLLECTION = "brand_facts"


@dataclass(frozen=True)
class BrandFact:
    """One retrievable piece of the kit; `ref` is the claim id, sku or offer id it came from."""

    kind: str
    ref: str
    text: str
    similarity: float = 0.0


def _facts_of(kit: BrandKit) -> list[BrandFact]:
    facts = [BrandFact("voice", f"tone-{i}", t) for i, t in enumerate(kit.voice.tone)]
    facts += [BrandFact("claim", c.id, c.text) for c in kit.claims]
    facts += [
        BrandFact("product", p.sku, f"{p.name} ({p.price}): {p.description}") for p in kit.products
    ]
    facts += [BrandFact("offer", o.id, o.terms) for o in kit.offers]
    facts += [BrandFact("exemplar", f"ex-{i}", t) for i, t in enumerate(kit.exemplars)]
    facts += [BrandFact("anti_exemplar", f"anti-{i}", t) for i, t in enumerate(kit.anti_exemplars)]
    for channel, lines in kit.disclaimers.items():
        facts += [BrandFact("disclaimer", f"{channel}-{i}", t) for i, t in enumerate(lines)]
    return facts


class BrandStore:
    """Open with `BrandStore.open(settings)`; `ingest(folder)` loads a kit, returns its version."""

    def __init__(self, root: Path) -> None:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        self.root = root
        (root / "kits").mkdir(parents=True, exist_ok=True)
        self.embedder = MiniLmEmbedding()
        self._client = chromadb.PersistentClient(
            path=str(root / "chroma"),
            settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False),
        )
        self._collection = self._client.get_or_create_collection(
            COLLECTION,
            embedding_function=self.embedder,  # type: ignore[arg-type]
            configuration={"hnsw": {"space": "cosine"}},
        )
        self._kit: BrandKit | None = None
        self._vectors: dict[str, np.ndarray] = {}
        self.variants = VariantCache()

    @classmethod
    def open(cls, settings: Settings) -> BrandStore:
        return cls(settings.ensure_data_dir() / "brand")

    # -- versions -------------------------------------------------------------------------
    @property
    def version(self) -> str:
        """The active brand-kit version ('' when no kit was ingested yet)."""
        pointer = self.root / "current"
        return pointer.read_text().strip() if pointer.is_file() else ""

    @property
    def kit(self) -> BrandKit:
        version = self.version
        if not version:
            raise BrandKitError("no brand kit ingested yet; run `cjo brand ingest DIR`")
        if self._kit is None or self._kit.version != version:
            data = json.loads((self.root / "kits" / f"{version}.json").read_text())
            self._kit = BrandKit.model_validate(data)
            self._vectors = {}
        return self._kit

    def versions(self) -> list[str]:
        return sorted(p.stem for p in (self.root / "kits").glob("*.json"))

    def ingest(self, directory: Path) -> str:
        """Validate the folder, embed its facts and make it the active version (idempotent)."""
        kit = load_kit(Path(directory))
        facts = _facts_of(kit)
        self._collection.upsert(
            ids=[f"{kit.version}:{f.kind}:{f.ref}" for f in facts],
            documents=[f.text for f in facts],
            metadatas=[{"version": kit.version, "kind": f.kind, "ref": f.ref} for f in facts],
        )
        path = self.root / "kits" / f"{kit.version}.json"
        path.write_text(kit.model_dump_json(indent=2))
        tmp = self.root / "current.tmp"
        tmp.write_text(kit.version)
        tmp.replace(self.root / "current")
        self._kit, self._vectors = kit, {}
        return kit.version

    # -- retrieval ------------------------------------------------------------------------
    def search(self, query: str, *, kinds: list[str] | None = None, k: int = 5) -> list[BrandFact]:
        """The `k` facts of the active kit nearest in meaning to `query`."""
        where: dict[str, Any] = {"version": self.kit.version}
        if kinds:
            where = {"$and": [where, {"kind": {"$in": kinds}}]}
        result = self._collection.query(query_texts=[query], n_results=k, where=where)
        docs = (result.get("documents") or [[]])[0]
        metas = (result.get("metadatas") or [[]])[0]
        dists = (result.get("distances") or [[]])[0]
        return [
            BrandFact(str(m["kind"]), str(m["ref"]), d, 1.0 - float(dist))
            for d, m, dist in zip(docs, metas, dists, strict=True)
        ]

    def vectors(self, kind: str) -> np.ndarray:
        """Embeddings of every fact of one kind in the active kit (cached per version)."""
        kit = self.kit
        if kind not in self._vectors:
            texts = {"exemplar": kit.exemplars, "anti_exemplar": kit.anti_exemplars}.get(kind)
            if texts is None:
                texts = [c.text for c in kit.claims] if kind == "claim" else []
            self._vectors[kind] = self.embedder.embed(list(texts))
        return self._vectors[kind]

    def cached_vectors(self, name: str, texts: list[str]) -> np.ndarray:
        """Embeddings of `texts` kept until the active version changes (keyed by `name`)."""
        _ = self.kit  # drops the cache when another version became active
        key = f"cached:{name}"
        if key not in self._vectors or len(self._vectors[key]) != len(texts):
            self._vectors[key] = self.embedder.embed(texts)
        return self._vectors[key]

    def embed(self, texts: list[str]) -> np.ndarray:
        return self.embedder.embed(texts)
