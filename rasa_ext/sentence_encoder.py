"""Sentence embeddings from all-MiniLM-L6-v2, run by onnxruntime with 8-bit weights.

Why: TF-IDF n-grams know only the words of our training data; a customer who writes "what's
left on the note" shares few of them with "how much do I still owe". A pretrained sentence
encoder places such messages near each other (make eval: see rasa_ext/intent_classifier.py).

Why this way: the model is a 6-layer, 384-wide BERT (22 M weights). PyTorch is not in Rasa's
environment, and with numpy a short message cost 10-20 ms here, spent reading 90 MB of float
weights. So the graph is written out as ONNX from the published weights (a few matrix products
per layer), its matrices quantised to 8 bits, and run by onnxruntime on one thread: about
1-1.5 ms per message, embeddings within a cosine of 0.95 of the full model's (the test checks
the full graph against sentence-transformers' documented similarities, and the 8-bit one
against the full one).

The weights are the model.safetensors file of sentence-transformers/all-MiniLM-L6-v2
(Apache-2.0), checked against its SHA-256 when read at training; the 8-bit graph is stored in
the trained Rasa model, so serving reads nothing else and downloads nothing.
"""
from __future__ import annotations

import hashlib
import json
import struct
import unicodedata
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np

WEIGHTS_FILE = "model.safetensors"
VOCAB_FILE = "vocab.txt"
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
LAYERS, HEADS, WIDTH = 6, 12, 384
MAX_TOKENS = 256  # the model's own limit in sentence-transformers
MAX_WORD_CHARACTERS = 100  # BERT's: a longer "word" is one unknown token


class EncoderFilesError(RuntimeError):
    """The encoder's files are missing or are not the expected model."""


def read_safetensors(path: Path, expected_sha256: str = WEIGHTS_SHA256) -> Dict[str, np.ndarray]:
    """The float32 tensors of a safetensors file (a JSON header, then raw little-endian data)."""
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != expected_sha256:
        raise EncoderFilesError(f"{path}: SHA-256 {digest}, expected {expected_sha256}")
    header_length = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + header_length])
    start = 8 + header_length
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] != "F32":  # skips the position_ids buffer
            continue
        first, last = info["data_offsets"]
        tensors[name] = np.frombuffer(raw, dtype="<f4", count=(last - first) // 4,
                                      offset=start + first).reshape(info["shape"]).copy()
    return tensors


class WordPieceTokenizer:
    """BERT's uncased tokenizer: lower-case, strip accents, split off punctuation, then the
    longest vocabulary pieces of each word ("##" marks a piece inside a word)."""

    def __init__(self, vocabulary: Sequence[str]) -> None:
        self.vocabulary = list(vocabulary)
        self.ids = {piece: index for index, piece in enumerate(self.vocabulary)}
        self.cls, self.sep, self.unknown = self.ids["[CLS]"], self.ids["[SEP]"], self.ids["[UNK]"]

    def encode(self, text: str) -> List[int]:
        """[CLS] pieces [SEP], at most MAX_TOKENS ids."""
        ids = [self.cls]
        for word in _words(text):
            ids.extend(self._pieces(word))
            if len(ids) >= MAX_TOKENS - 1:
                break
        return ids[: MAX_TOKENS - 1] + [self.sep]

    def _pieces(self, word: str) -> List[int]:
        if len(word) > MAX_WORD_CHARACTERS:
            return [self.unknown]
        pieces, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.ids:
                    pieces.append(self.ids[piece])
                    break
                end -= 1
            else:  # no piece fits: the whole word is unknown
                return [self.unknown]
            start = end
        return pieces


def _words(text: str) -> List[str]:
    text = unicodedata.normalize("NFD", text.lower())
    words, word = [], []
    for char in text:
        category = unicodedata.category(char)
        if category == "Mn":  # an accent, stripped
            continue
        if char.isspace() or category.startswith("C"):
            boundary, keep = True, False
        else:
            boundary = keep = _is_punctuation(char, category)
        if boundary:
            if word:
                words.append("".join(word))
                word = []
            if keep:
                words.append(char)
        else:
            word.append(char)
    if word:
        words.append("".join(word))
    return words


def _is_punctuation(char: str, category: str) -> bool:
    code = ord(char)  # BERT counts every ASCII symbol as punctuation, "$" and "^" included
    return 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126 \
        or category.startswith("P")


def transformer_graph(tensors: Dict[str, np.ndarray]) -> bytes:
    """The BERT encoder as an ONNX model: one message's token ids and their positions in, the
    last layer's hidden states out. Built here from the weights (PyTorch's exporter is not
    available). One message at a time: the 8-bit model scales its inputs by their range, so a
    message batched with others would come out slightly different from the same one alone."""
    from onnx import TensorProto, helper, numpy_helper

    nodes, initializers = [], []
    counter = iter(range(10**6))

    def constant(name: str, value: np.ndarray) -> str:
        initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(kind: str, inputs: List[str], **attributes: object) -> str:
        output = f"{kind.lower()}_{next(counter)}"
        nodes.append(helper.make_node(kind, inputs, [output], **attributes))
        return output

    def dense(x: str, prefix: str) -> str:
        weight = constant(prefix + ".weight", tensors[prefix + ".weight"].T)
        return op("Add", [op("MatMul", [x, weight]), constant(prefix + ".bias", tensors[prefix + ".bias"])])

    def norm(x: str, prefix: str) -> str:
        return op("LayerNormalization", [x, constant(prefix + ".weight", tensors[prefix + ".weight"]),
                                         constant(prefix + ".bias", tensors[prefix + ".bias"])],
                  axis=-1, epsilon=1e-12)

    word = constant("word", tensors["embeddings.word_embeddings.weight"])
    position = constant("position", tensors["embeddings.position_embeddings.weight"])
    hidden = op("Add", [op("Gather", [word, "input_ids"]), op("Gather", [position, "positions"])])
    hidden = op("Add", [hidden, constant("token_type", tensors["embeddings.token_type_embeddings.weight"][0])])
    hidden = norm(hidden, "embeddings.LayerNorm")
    split_heads = constant("split_heads", np.array([0, 0, HEADS, WIDTH // HEADS], np.int64))
    merge_heads = constant("merge_heads", np.array([0, 0, WIDTH], np.int64))
    scale = constant("scale", np.array(1.0 / np.sqrt(WIDTH // HEADS), np.float32))
    for layer in range(LAYERS):
        prefix = f"encoder.layer.{layer}."
        q, k, v = (op("Transpose", [op("Reshape", [dense(hidden, f"{prefix}attention.self.{part}"),
                                                   split_heads])], perm=[0, 2, 1, 3])
                   for part in ("query", "key", "value"))
        scores = op("Mul", [op("MatMul", [q, op("Transpose", [k], perm=[0, 1, 3, 2])]), scale])
        context = op("MatMul", [op("Softmax", [scores], axis=-1), v])
        context = op("Reshape", [op("Transpose", [context], perm=[0, 2, 1, 3]), merge_heads])
        hidden = norm(op("Add", [hidden, dense(context, f"{prefix}attention.output.dense")]),
                      f"{prefix}attention.output.LayerNorm")
        inner = dense(hidden, f"{prefix}intermediate.dense")  # exact GELU, as BERT
        inner = op("Mul", [op("Mul", [inner, constant(f"half_{layer}", np.array(0.5, np.float32))]),
                           op("Add", [constant(f"one_{layer}", np.array(1.0, np.float32)),
                                      op("Erf", [op("Div", [inner, constant(
                                          f"sqrt2_{layer}", np.array(np.sqrt(2.0), np.float32))])])])])
        hidden = norm(op("Add", [hidden, dense(inner, f"{prefix}output.dense")]),
                      f"{prefix}output.LayerNorm")
    nodes.append(helper.make_node("Identity", [hidden], ["hidden"]))
    graph = helper.make_graph(
        nodes, "all-MiniLM-L6-v2",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"]),
         helper.make_tensor_value_info("positions", TensorProto.INT64, ["tokens"])],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", "tokens", WIDTH])],
        initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model.SerializeToString()


def quantized(model: bytes) -> bytes:
    """The model with its matrix weights as 8-bit integers: a quarter of the memory to read
    per message, which is what a single short sentence's time is spent on."""
    import tempfile

    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as work:
        source, target = Path(work) / "fp32.onnx", Path(work) / "int8.onnx"
        source.write_bytes(model)
        quantize_dynamic(source, target, weight_type=QuantType.QInt8, per_channel=True)
        return target.read_bytes()


class SentenceEncoder:
    """Mean-pooled, unit-length sentence embeddings (sentence-transformers' recipe) from an
    ONNX model of the transformer, run by onnxruntime on one thread."""

    def __init__(self, model: bytes, vocabulary: Sequence[str]) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # messages are short; the server runs several at once
        options.inter_op_num_threads = 1
        self.model = model
        self.tokenizer = WordPieceTokenizer(vocabulary)
        self._session = onnxruntime.InferenceSession(model, options,
                                                     providers=["CPUExecutionProvider"])

    @property
    def vocabulary(self) -> List[str]:
        return self.tokenizer.vocabulary

    @classmethod
    def build(cls, directory: Path, quantize: bool = True) -> "SentenceEncoder":
        """From the model as published (model.safetensors and vocab.txt in `directory`)."""
        weights, vocab = directory / WEIGHTS_FILE, directory / VOCAB_FILE
        for path in (weights, vocab):
            if not path.is_file():
                raise EncoderFilesError(f"{path} is missing: `make envs` fetches it")
        model = transformer_graph(read_safetensors(weights))
        return cls(quantized(model) if quantize else model,
                   vocab.read_text(encoding="utf-8").rstrip("\n").split("\n"))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One unit-length row per text, each text encoded alone (see transformer_graph)."""
        result = np.zeros((len(texts), WIDTH), dtype=np.float32)
        for row, text in enumerate(texts):
            ids = np.array([self.tokenizer.encode(text)], dtype=np.int64)
            (hidden,) = self._session.run(None, {"input_ids": ids,
                                                 "positions": np.arange(ids.shape[1])})
            pooled = hidden[0].mean(axis=0)  # every token, [CLS] and [SEP] included, as published
            result[row] = pooled / np.linalg.norm(pooled)
        return result
