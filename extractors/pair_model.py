"""The trained pair classifier: reads a marked context, gives P(adopts), P(drops),
P(evaluates).

The model is a fine-tuned all-MiniLM-L6-v2 encoder with a three-way sigmoid head, exported to
ONNX and quantised to int8 by ``training/train_claims.py``; it runs here on onnxruntime with
the ``tokenizers`` library, so run time needs neither torch nor transformers. A model folder
holds ``model.onnx``, ``tokenizer.json`` and ``model.json`` (labels, maximum length, the
temperature that calibrates the probabilities, the decision thresholds, the training
metrics).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from extractors.mentions import MarkedPair

DEFAULT_MODEL_DIR = Path(__file__).with_name("data") / "claims_model"
LABELS = ("adopts", "drops", "evaluates")


class PairModelError(RuntimeError):
    """The model folder is missing or holds something this code cannot run."""


@dataclass
class PairModel:
    """Scores marked contexts; see the module docstring."""

    model_dir: Path = DEFAULT_MODEL_DIR
    threads: int = 1
    meta: dict[str, Any] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        self.model_dir = Path(self.model_dir)
        meta_path = self.model_dir / "model.json"
        try:
            self.meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise PairModelError(
                f"{meta_path}: no trained claims model here (run `make train`, or point "
                "claims_model_dir at a folder with model.onnx, tokenizer.json, model.json)"
            ) from exc
        if tuple(self.meta.get("labels", ())) != LABELS:
            raise PairModelError(f"{meta_path}: labels {self.meta.get('labels')} != {LABELS}")
        self.max_length = int(self.meta.get("max_length", 160))
        self.temperature = float(self.meta.get("temperature", 1.0))
        self.thresholds = np.array(
            [float(self.meta.get("thresholds", {}).get(label, 0.5)) for label in LABELS]
        )
        self.tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=self.max_length)
        self.tokenizer.no_padding()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(
            str(self.model_dir / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )

    @property
    def version(self) -> str:
        return str(self.meta.get("version", "unversioned"))

    def logits(self, pairs: list[MarkedPair], batch_size: int = 32) -> np.ndarray:
        """Raw logits, shape (len(pairs), 3)."""
        out = np.zeros((len(pairs), len(LABELS)), dtype=np.float32)
        if not pairs:
            return out
        batch = encode(self.tokenizer, pairs)
        order = sorted(range(len(pairs)), key=lambda i: len(batch[i][0]))
        for b in range(0, len(order), batch_size):
            idx = order[b : b + batch_size]
            feed = pad([batch[i] for i in idx])
            (logits,) = self.session.run(None, feed)
            out[idx] = logits
        return out

    def probabilities(self, pairs: list[MarkedPair]) -> np.ndarray:
        """Calibrated probabilities, shape (len(pairs), 3)."""
        return 1.0 / (1.0 + np.exp(-self.logits(pairs) / self.temperature))


Encoded = tuple[list[int], int, int]


def encode(tokenizer: Any, pairs: list[MarkedPair]) -> list[Encoded]:
    """Token ids and the positions of the two opening marks (0, the [CLS] token, when
    truncation cut a mark off)."""
    out = []
    for pair, enc in zip(pairs, tokenizer.encode_batch([p.text for p in pairs]), strict=True):
        org = enc.char_to_token(pair.org_at)
        model = enc.char_to_token(pair.model_at)
        out.append((enc.ids, org if org is not None else 0, model if model is not None else 0))
    return out


def pad(rows: list[Encoded]) -> dict[str, np.ndarray]:
    """The model's inputs for a batch of encoded pairs."""
    width = max(len(ids) for ids, _, _ in rows)
    ids = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for row, (tokens, _, _) in enumerate(rows):
        ids[row, : len(tokens)] = tokens
        mask[row, : len(tokens)] = 1
    return {
        "input_ids": ids,
        "attention_mask": mask,
        "org_index": np.array([o for _, o, _ in rows], dtype=np.int64),
        "model_index": np.array([m for _, _, m in rows], dtype=np.int64),
    }
