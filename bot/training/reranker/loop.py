"""The fine-tuning loop: seeded and resumable.

A checkpoint of the trainable weights, optimiser and schedule is written every
`checkpoint_every` steps (and at each epoch's end); rerunning the same command continues
from it. A JSONL log holds the loss and the validation hit@1 (monitoring only) of each epoch.
Creating `STOP` in the output directory ends it after the current step. A run that ended
early (`STOP`, or the recipe's `max_steps`) continues for more steps, even over more
questions, when rerun with a larger `max_steps` (or none) once `STOP` and the exported
`reranker.onnx` are removed: every other setting must be the checkpoint's, but for the
answer rules' own (`RULE_FIELDS`)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from bot.ranking.e5file import E5File
from bot.ranking.e5tokenizer import E5Tokenizer
from bot.training.reranker.batching import FrozenCache, PairEncoder, batches, make_train_lists
from bot.training.reranker.candidates import CandidateList, QuestionLists
from bot.training.reranker.loss import initial_null, list_loss
from bot.training.reranker.model import CrossEncoder, trainable_state
from bot.training.reranker.recipe import RULE_FIELDS, STOP_FILE, TrainSettings
from bot.training.reranker.validation import validation_figures
from bot.training.reranker.warm_start import warm_start
from core.errors import ConfigError


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


def _log(path: Path, record: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def _logged_epochs(path: Path) -> set[tuple[int, int]]:
    # (epoch, step): a run stopped inside an epoch logs it there, and a continued run logs
    # the same epoch again where it then ends
    if not path.exists():
        return set()
    return {
        (int(r["epoch"]), int(r["step"]))
        for r in map(json.loads, path.read_text().splitlines())
        if r.get("kind") == "epoch"
    }


def _continues(saved: dict[str, Any], settings: TrainSettings) -> bool:
    """Whether a checkpoint written with the `saved` settings continues under `settings`:
    every setting must match but `max_steps`, which says where fine-tuning stops, not how it
    trains (a run stopped at step N continues under a larger `max_steps`, or none), and the
    answer rules' own (`RULE_FIELDS`). A setting added after the checkpoint was written counts
    as its default, which is how that run behaved."""
    ignored = RULE_FIELDS | {"max_steps"}
    then = {**asdict(TrainSettings()), **saved}
    now = asdict(settings)
    return {k: v for k, v in then.items() if k not in ignored} == {
        k: v for k, v in now.items() if k not in ignored
    }


def _start_of(started_from: dict[str, Any] | None) -> Path | None:
    """The folder a checkpoint's run started from, resolved (None: e5's own weights)."""
    return None if started_from is None else Path(started_from["from"]).resolve()


def checkpoint_path(out: Path) -> Path:
    """Where a run under `out` keeps its last checkpoint."""
    return out / "checkpoints" / "last.pt"


def resumable(out: Path, settings: TrainSettings, init: Path | None) -> dict[str, Any] | None:
    """The checkpoint a run under `out` continues, or None for a fresh start. One written
    with other settings, or started from another `--init`, is refused in one line; the
    pipeline calls this before building the candidate lists, so a refusal comes in seconds."""
    ckpt = checkpoint_path(out)
    if not ckpt.exists():
        return None
    state: dict[str, Any] = torch.load(ckpt, weights_only=False)
    if not _continues(state["settings"], settings):
        raise ConfigError(
            f"{ckpt} was written with other settings; remove it to "
            "restart, or give the recipe it was written with"
        )
    started_from = state.get("init")
    if _start_of(started_from) != (None if init is None else init.resolve()):
        was = "e5's own weights" if started_from is None else started_from["from"]
        raise ConfigError(
            f"{ckpt} started from {was}; resume it with the same --init, or remove it to restart"
        )
    return state


def train(
    file: E5File,
    train_lists: Sequence[QuestionLists],
    validation: Callable[[], Sequence[CandidateList]] | None,
    out: Path,
    settings: TrainSettings,
    say: Callable[[str], None] = print,
    init: Path | None = None,
    state: dict[str, Any] | None = None,
) -> CrossEncoder:
    """Fine-tune (or resume fine-tuning) and return the model; checkpoints and the log go
    under `out`. `validation` gives the monitoring lists when first needed. `state` is the
    checkpoint to continue, as `resumable` returned it (None: a fresh start). With `init` (a
    shipped reranker folder) a fresh run starts from that cross-encoder's weights, null and
    first-stage weight instead of e5's own (`bot.training.reranker.warm_start`)."""
    torch.set_num_threads(settings.threads)
    torch.manual_seed(settings.seed)
    tok = E5Tokenizer(file)
    pairs = PairEncoder(tok, settings.max_len, settings.max_question)
    items = make_train_lists(train_lists, pairs, settings)
    if settings.max_questions is not None:
        items = items[: settings.max_questions]
    model = CrossEncoder(file)
    for i, layer in enumerate(model.encoder.layers):
        if i < settings.freeze_layers:
            layer.requires_grad_(False)
    if settings.freeze_layers > 0:
        for p in (model.encoder.pos, model.encoder.types, *model.encoder.ln.parameters()):
            p.requires_grad_(False)
    head_params = [model.head.weight, model.head.bias]
    body = [
        p
        for n, p in model.named_parameters()
        if p.requires_grad and not n.startswith(("head.", "null", "alpha"))
    ]
    decay = [p for p in body if p.dim() >= 2]
    no_decay = [p for p in body if p.dim() < 2]
    opt = torch.optim.AdamW(
        [
            {"params": decay, "lr": settings.lr, "weight_decay": settings.weight_decay},
            {"params": no_decay, "lr": settings.lr, "weight_decay": 0.0},
            {"params": head_params, "lr": settings.head_lr, "weight_decay": 0.0},
            {"params": [model.null, model.alpha], "lr": settings.scalar_lr, "weight_decay": 0.0},
        ]
    )
    per_epoch = math.ceil(len(items) / settings.questions_per_step)
    total = per_epoch * settings.epochs
    if settings.max_steps is not None:
        total = min(total, settings.max_steps)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(settings.warmup_steps))
    ckpt = checkpoint_path(out)
    log = out / "train_log.jsonl"
    out.mkdir(parents=True, exist_ok=True)
    step = 0
    started_from: dict[str, Any] | None = None  # the shipped cross-encoder it started from
    if state is not None:
        started_from = state.get("init")
        model.load_state_dict(state["model"], strict=False)
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        step = int(state["step"])
        say(f"resuming at step {step} of {total}")
    else:
        if init is not None:
            started_from = {"from": str(init), "steps": warm_start(model, init)}
            say(f"starting from the cross-encoder in {init} ({started_from['steps']} steps there)")
        else:
            with torch.no_grad():
                model.null.fill_(initial_null(items, settings.negative_weight))
        _log(
            log,
            {
                "kind": "start",
                "init": started_from,
                "null": float(model.null.detach()),
                "settings": asdict(settings),
                "questions": len(items),
                "steps": total,
                "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
            },
        )
    val_lists: Sequence[CandidateList] | None = None
    frozen = FrozenCache(model, tok.pad, settings.freeze_layers)
    model.train()

    def save() -> None:
        _atomic_save(
            {
                "model": trainable_state(model),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "rng": torch.get_rng_state(),
                "step": step,
                "settings": asdict(settings),
                "init": started_from,
            },
            ckpt,
        )

    def epoch_end(epoch: int, losses: list[float], seconds: float) -> None:
        nonlocal val_lists
        if (epoch, step) in _logged_epochs(log):
            return
        record: dict[str, Any] = {
            "kind": "epoch",
            "epoch": epoch,
            "step": step,
            "loss": float(np.mean(losses)) if losses else None,
            "seconds": seconds,
        }
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
        bar = tqdm(
            plan[start:],
            total=per_epoch,
            initial=start,
            desc=f"epoch {epoch + 1}",
            unit="step",
            mininterval=10.0,
        )
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
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
            opt.step()
            sched.step()
            step += 1
            losses.append(float(loss.detach()))
            if step % 20 == 0:
                bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
            if step % settings.log_every == 0:
                _log(
                    log,
                    {
                        "kind": "step",
                        "step": step,
                        "loss50": float(np.mean(losses[-50:])),
                        "null": float(model.null.detach()),
                        "alpha": float(model.alpha.detach()),
                        "lr": float(sched.get_last_lr()[0]),
                    },
                )
            if step % settings.checkpoint_every == 0:
                save()
        bar.close()
        if step % per_epoch == 0 or step >= total:
            epoch_end(epoch + 1, losses, time.time() - began)
        save()
    _atomic_save(
        {
            "model": trainable_state(model),
            "settings": asdict(settings),
            "null": float(model.null.detach()),
            "alpha": float(model.alpha.detach()),
            "steps": step,
            "init": started_from,
        },
        out / "model.pt",
    )
    return model
