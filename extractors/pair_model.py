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

from adoptwatch.errors import AdoptwatchError
from adoptwatch.extractors.mentions import MarkedModel

DEFAULT_MODEL_DIR = Path(__file__).with_name("data") / "claims_model"
LABELS = ("adopts", "drops", "evaluates")


class PairModelError(AdoptwatchError):
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

    def logits(self, groups: list[MarkedModel]) -> np.ndarray:
        """Raw logits for every pair of every group, in order: shape (pairs, 3).

        One marked context per run, never a padded batch: the int8 model quantizes its
        activations with a scale taken from the whole input, so a batch's other rows
        would change a row's scores (an article's claims would depend on which articles
        shared its batch). Measured: no slower (2.53 s against 2.57 s with batches of
        32 on 181 real pages; 11.3 s against 11.6 s on the real test split).
        """
        rows = encode(self.tokenizer, groups)
        out = [self.session.run(None, pad([row]))[0] for row in rows]
        if not out:
            return np.zeros((0, len(LABELS)), dtype=np.float32)
        return np.concatenate(out).astype(np.float32)

    def probabilities(self, groups: list[MarkedModel]) -> np.ndarray:
        """Calibrated probabilities for every pair of every group: shape (pairs, 3)."""
        return 1.0 / (1.0 + np.exp(-self.logits(groups) / self.temperature))


@dataclass(frozen=True)
class EncodedModel:
    """One marked model mention as token ids, with the token positions of its marks."""

    ids: list[int]
    model_index: int
    org_index: list[int]


def encode(tokenizer: Any, groups: list[MarkedModel]) -> list[EncodedModel]:
    """Token ids and mark positions (0, the [CLS] token, for a mark the cut left out)."""
    out = []
    for group, enc in zip(groups, tokenizer.encode_batch([g.text for g in groups]), strict=True):
        model = enc.char_to_token(group.model_at) if group.model_at >= 0 else None
        orgs = [enc.char_to_token(a) if a >= 0 else None for a in group.org_at]
        out.append(
            EncodedModel(
                enc.ids,
                model if model is not None else 0,
                [o if o is not None else 0 for o in orgs],
            )
        )
    return out


def pad(rows: list[EncodedModel]) -> dict[str, np.ndarray]:
    """The model's inputs for a batch: one row of tokens per model mention, one entry of
    ``pair_row``/``org_index``/``model_index`` per pair."""
    width = max(len(r.ids) for r in rows)
    ids = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    pair_row, org_index, model_index = [], [], []
    for row, r in enumerate(rows):
        ids[row, : len(r.ids)] = r.ids
        mask[row, : len(r.ids)] = 1
        for o in r.org_index:
            pair_row.append(row)
            org_index.append(o)
            model_index.append(r.model_index)
    return {
        "input_ids": ids,
        "attention_mask": mask,
        "pair_row": np.array(pair_row, dtype=np.int64),
        "org_index": np.array(org_index, dtype=np.int64),
        "model_index": np.array(model_index, dtype=np.int64),
    }
