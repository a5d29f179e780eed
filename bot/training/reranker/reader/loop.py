"""Fine-tuning the span head: seeded and resumable.

The examples (hidden rows from the cross-encoder's graph) are computed once and kept in the
output directory; a checkpoint of the head, the optimiser and the position in the run is
written every `checkpoint_every` steps and at each epoch's end, so rerunning the same command
continues where it stopped. The loss is the usual extractive one: cross-entropy of the start
position plus that of the end position, over <s> (the null option) and the sentence's
tokens."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from bot.ranking.e5file import E5File
from bot.training.reranker.reader.examples import SpanExample
from bot.training.reranker.reader.model import SpanHead
from bot.training.reranker.recipe import TrainSettings


def _batch(group: Sequence[SpanExample]) -> tuple[torch.Tensor, ...]:
    n = max(e.hidden.shape[0] for e in group)
    h = group[0].hidden.shape[1]
    hidden = torch.zeros((len(group), n, h), dtype=torch.float32)
    mask = torch.zeros((len(group), n), dtype=torch.float32)
    for i, e in enumerate(group):
        hidden[i, : e.hidden.shape[0]] = torch.from_numpy(e.hidden.astype(np.float32))
        mask[i, : e.hidden.shape[0]] = 1.0
    starts = torch.tensor([e.start for e in group], dtype=torch.long)
    ends = torch.tensor([e.end for e in group], dtype=torch.long)
    return hidden, mask, starts, ends


def span_loss(
    start: torch.Tensor, end: torch.Tensor, mask: torch.Tensor, s: torch.Tensor, e: torch.Tensor
) -> torch.Tensor:
    """Cross-entropy of the start and end positions, padding excluded."""
    pad = (1.0 - mask) * -1e4
    loss = torch.nn.functional.cross_entropy(start + pad, s)
    loss = loss + torch.nn.functional.cross_entropy(end + pad, e)
    return loss / 2


def _save(obj: dict[str, Any], path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


def train_head(
    file: E5File,
    examples: Sequence[SpanExample],
    out: Path,
    settings: TrainSettings,
    say: Callable[[str], None] = print,
) -> SpanHead:
    """Fine-tune (or resume fine-tuning) the head on `examples`; checkpoints in `out`."""
    torch.set_num_threads(settings.threads)
    torch.manual_seed(settings.seed)
    model = SpanHead(file, settings.reader_tap, settings.reader_layers)
    optimiser = torch.optim.AdamW(
        [
            {"params": model.layers.parameters(), "lr": settings.reader_lr},
            {"params": model.out.parameters(), "lr": settings.head_lr},
        ],
        weight_decay=settings.weight_decay,
    )
    per_epoch = math_ceil(len(examples), settings.reader_batch)
    total = per_epoch * settings.reader_epochs
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: min(1.0, (step + 1) / 30) * max(0.0, 1 - step / max(1, total))
    )
    state_path = out / "reader-state.pt"
    step = 0
    if state_path.exists():
        state = torch.load(state_path, weights_only=False)
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        schedule.load_state_dict(state["schedule"])
        step = int(state["step"])
        say(f"span head: resuming at step {step} of {total}")
    model.train()
    bar = tqdm(total=total, initial=step, desc="span head", unit="step", mininterval=10.0)
    running: list[float] = []
    while step < total:
        epoch, at = divmod(step, per_epoch)
        order = list(range(len(examples)))
        random.Random(settings.seed + epoch).shuffle(order)
        size = settings.reader_batch
        group = [examples[i] for i in order[at * size : (at + 1) * size]]
        hidden, mask, s, e = _batch(group)
        start, end = model(hidden, mask)
        loss = span_loss(start, end, mask, s, e)
        optimiser.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        step += 1
        bar.update(1)
        running.append(float(loss.detach()))
        if step % settings.log_every == 0:
            say(f"span head: step {step}/{total}, loss {np.mean(running):.3f}")
            running = []
        if step % settings.checkpoint_every == 0 or step % per_epoch == 0 or step == total:
            _save(
                {
                    "model": model.state_dict(),
                    "optimiser": optimiser.state_dict(),
                    "schedule": schedule.state_dict(),
                    "step": step,
                },
                state_path,
            )
    bar.close()
    return model.eval()


def math_ceil(n: int, d: int) -> int:
    """n / d rounded up."""
    return -(-n // d)
