"""Checks of `rasa_ext.sentence_encoder` that need Rasa's environment (onnx, onnxruntime):
run by Rasa's Python, which prints the results as JSON on its last line.

The reference figures are sentence-transformers' own, from its documentation for
all-MiniLM-L6-v2: "The weather is lovely today." / "It's so sunny outside!" 0.6660,
with "He drove to the stadium." 0.1046 and 0.1411.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from rasa_ext.sentence_encoder import (MAX_TOKENS, EncoderFilesError, SentenceEncoder,
                                       read_safetensors)

MODEL_DIR = Path("var/sentence-model")
PUBLISHED = ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
MESSAGES = ["how much do i still owe on my car", "yes", "", "Café ¿dónde está mi pago?",
            "pay $1,250.50 on 12/3 from my checking " * 40]


def _similarities(vectors: np.ndarray) -> list[float]:
    sims = vectors @ vectors.T
    return [round(float(sims[0, 1]), 4), round(float(sims[0, 2]), 4), round(float(sims[1, 2]), 4)]


def _refusal(action) -> str:
    try:
        action()
    except EncoderFilesError as error:
        return str(error)
    return ""


def main() -> None:
    full = SentenceEncoder.build(MODEL_DIR, quantize=False)
    small = SentenceEncoder.build(MODEL_DIR)
    tokenizer = small.tokenizer
    full_vectors, small_vectors = full.encode(MESSAGES), small.encode(MESSAGES)
    one_by_one = np.vstack([small.encode([text]) for text in MESSAGES])
    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp)
        missing = _refusal(lambda: SentenceEncoder.build(empty))
        (empty / "model.safetensors").write_bytes(b"\0" * 16)
        (empty / "vocab.txt").write_text("[PAD]\n", encoding="utf-8")
        tampered = _refusal(lambda: read_safetensors(empty / "model.safetensors"))
    print(json.dumps({
        "published_full": _similarities(full.encode(PUBLISHED)),
        "published_small": _similarities(small.encode(PUBLISHED)),
        "small_vs_full_cosines": [float(c) for c in (full_vectors * small_vectors).sum(axis=1)],
        "norms": [float(n) for n in np.linalg.norm(small_vectors, axis=1)],
        "together_vs_alone": float(np.abs(small_vectors - one_by_one).max()),
        "reloaded_same": bool(np.array_equal(
            SentenceEncoder(small.model, small.vocabulary).encode(MESSAGES), small_vectors)),
        "small_model_mb": len(small.model) / 1e6,
        "tokens": [tokenizer.vocabulary[i] for i in tokenizer.encode("Café: pay $1,250.50!")],
        "long_word": [tokenizer.vocabulary[i] for i in tokenizer.encode("a" * 101 + " ok")],
        "longest": len(tokenizer.encode(MESSAGES[-1])),
        "max_tokens": MAX_TOKENS,
        "missing": missing,
        "tampered": tampered,
    }))


if __name__ == "__main__":
    main()
