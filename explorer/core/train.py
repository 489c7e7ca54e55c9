"""Trainer: one visible training step at a time, reading the live knobs at the start of each step.

A step is: apply pending knob changes -> next batch -> data noising -> forward/backward -> regulariser
gradients -> (every `detail_every` steps: gradient histogram, per-group norms, the dropout masks drawn)
-> clip -> optimiser step -> (proximal L1: soft-threshold) -> (every `detail_every` steps: gradient
reach) -> record.
Records are plain dicts (the metrics contract in docs/records.md); the trainer never draws anything.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

from explorer.core.allocator import reuse_freed_memory
from explorer.core.budget import Instrument, InstrumentBudget
from explorer.core.data import BatchStream, Corpus
from explorer.core.gradients import gradient_details
from explorer.core.loss import cross_entropy
from explorer.core.memorisation import MemorisationMeter
from explorer.core.model import RNNLM, count_parameters, detach_state
from explorer.core.noising import noise_inputs, unigram_distribution
from explorer.core.probes import gradient_reach, mask_record
from explorer.spec.errors import ConfigError
from explorer.spec.knobs import DROPOUT_RATES, KNOBS, Config
from explorer.spec.records import GRAD_HIST_EDGES
from explorer.spec.wording import bits_per_char, perplexity

_SEED_LOCK = threading.Lock()  # global RNG seeding for initialisation must not interleave between runs
EVAL_LOGITS = 1 << 22  # the most logits one evaluation pass writes: 16 MB of float32, within a core's cache share
RATE_WINDOW_S = 5.0  # a run's speed is read over this much of its latest training
BURST_S = 1.5  # moves of one knob less than this apart are one change (a slider dragged, ten key presses)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda was asked for but no CUDA GPU is available: use --device auto or cpu")
    return torch.device(name)


def readouts(loss: float, level: str, prefix: str) -> dict:
    """Perplexity for every run and bits per character for a character-level one: {prefix_ppl, prefix_bpc}."""
    out = {f"{prefix}_ppl": perplexity(loss)}
    if level == "char":
        out[f"{prefix}_bpc"] = bits_per_char(loss)
    return out


def build_optimizer(name: str, groups: list[dict], lr: float) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr)
    # fused: one kernel for every parameter's update, on CPU as on CUDA (a tenth of the for-each loop's time on
    # a 10k-word model's embedding and decoder); the same update to float rounding
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, fused=True)
    return torch.optim.Adam(groups, lr=lr, fused=True)


class Trainer:
    def __init__(self, config: Config, corpus: Corpus | None = None, open_ended: bool = False):
        """`open_ended`: train until paused, stopped early or diverged, ignoring `config.steps` (live runs)."""
        self.config = config.validate()
        self.open_ended = open_ended
        reuse_freed_memory()  # a step's large tensors are freed and made again: keep them (explorer.core.allocator)
        self.device = resolve_device(config.device)
        self.corpus = corpus or Corpus.from_config(config)
        self.corpus.check_fits(config.batch_size, config.seq_len)
        self.vocab_size = len(self.corpus.vocab)
        with _SEED_LOCK, torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.model = RNNLM(self.vocab_size, config).to(self.device)
        # Dropout masks draw from this run's own generator, so runs sharing a process stay reproducible.
        self.model.generator = torch.Generator(self.device).manual_seed(config.seed + 1)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.penalised = self.model.penalised_weights()
        self.groups = self.model.param_groups()
        penalised_ids = {id(p) for p in self.penalised}
        self.optimizer = build_optimizer(
            config.optimizer,
            [
                {"params": self.penalised, "weight_decay": config.weight_decay},
                {"params": [p for p in self.params if id(p) not in penalised_ids], "weight_decay": 0.0},
            ],
            config.lr,
        )
        self.train_stream = BatchStream(self.corpus.train, config.batch_size, config.seq_len, self.device)
        self.valid_stream = BatchStream(self.corpus.valid, config.batch_size, config.seq_len, self.device)
        self.train_subset = self.train_stream.subset(config.train_subset)  # the gap's training side
        self._test_stream: BatchStream | None = None  # built by the first test_score()
        self.unigram = unigram_distribution(self.corpus.train, self.vocab_size).to(self.device)
        first_x, first_y = self.train_stream.batch(0)
        self.reach_sequence = first_x[:1], first_y[:1]  # the fixed sequence gradient reach is measured on
        self.meter = MemorisationMeter(self.corpus, n=config.meter_n or None) if config.meter_every else None
        instruments = {"detail": Instrument(config.detail_every, config.detail_every)}
        if self.meter:  # every meter_every-th evaluation, the first included
            instruments["meter"] = Instrument(config.eval_every, config.eval_every * config.meter_every)
        self.budget = InstrumentBudget(config.instrument_budget, instruments)

        self.knobs = config.live()
        self._pending: dict = {}
        self._pending_lock = threading.Lock()
        self._pending_causes: dict[str, str | None] = {}
        self._bursts: dict[str, tuple[dict, float]] = {}  # knob -> (its latest change event, when)
        self.step_count = 0
        self.state = None
        self.speed = Speed()  # its tokens/s, for the status line
        self.best_val_loss = math.inf
        self.best_step = 0
        self.best_weights: dict | None = None
        self.evals_since_best = 0
        self.stopped_reason: str | None = None  # "finished" | "early_stop" | "diverged"

    # ------------------------------------------------------------------------------- live knobs
    def set_knobs(self, cause: str | None = None, **changes) -> None:
        """Queue knob changes (any thread). They take effect at the start of the next step. `cause`: who
        moved them when it was not the viewer ("lesson": a class's teacher), kept in their events."""
        parsed = {}
        for name, value in changes.items():
            knob = KNOBS.get(name)
            if knob is None or not knob.live:
                raise ConfigError(f"{name!r} is not a live knob")
            parsed[name] = knob.parse(value)
        self.config.replace(**parsed)  # refuses a value this setup cannot take (batch norm in a cell of 1 sequence)
        with self._pending_lock:
            self._pending.update(parsed)
            self._pending_causes.update(dict.fromkeys(parsed, cause))

    def _apply_pending(self) -> list[dict]:
        with self._pending_lock:
            pending, self._pending = self._pending, {}
            causes, self._pending_causes = self._pending_causes, {}
        events, now = [], time.monotonic()
        for name, value in pending.items():
            if self.knobs[name] != value:
                events.append(self._knob_event(name, value, now, causes.get(name)))
                self.knobs[name] = value
        if events:
            self.model.apply_knobs(self.knobs)
            for group in self.optimizer.param_groups:
                group["lr"] = self.knobs["lr"]
            self.optimizer.param_groups[0]["weight_decay"] = self.knobs["weight_decay"]
        return events

    def _knob_event(self, name: str, value, now: float, cause: str | None = None) -> dict:
        """A change record; within a burst it re-sends the burst's event (first step, first old value,
        this new value), which replaces the earlier one wherever records are kept."""
        burst = self._bursts.get(name)
        if burst and now - burst[1] < BURST_S:
            event = {**burst[0], "new": value}
        else:
            event = {
                "kind": "event",
                "event": "knob",
                "step": self.step_count,
                "knob": name,
                "old": self.knobs[name],
                "new": value,
            }
            if cause:
                event["by"] = cause
        self._bursts[name] = (event, now)
        return event

    # ------------------------------------------------------------------------------- one step
    @property
    def done(self) -> bool:
        return self.stopped_reason is not None

    def loss_and_gradients(self, x: torch.Tensor, y: torch.Tensor, blank: torch.Tensor | None = None) -> torch.Tensor:
        """Forward, backward and the regulariser terms' gradients; leaves .grad filled, returns the data loss.
        `blank`: the inputs data noising replaced by the blank token."""
        if not self.model.training:  # train() walks every module: 0.17 ms of an 11 ms step at the default model
            self.model.train()
        logits, state = self.model(x, detach_state(self.state), blank)
        self.state = state
        loss = cross_entropy(logits.reshape(-1, self.vocab_size), y.reshape(-1))
        self.optimizer.zero_grad(set_to_none=True)
        penalty = self._activation_penalty()
        (loss if penalty is None else loss + penalty).backward()
        self._add_penalty_gradients()
        return loss.detach()

    def _activation_penalty(self) -> torch.Tensor | None:
        """AWD-LSTM's activation regularisers (Merity et al. 2018) on the top layer's output of this step: AR
        α·mean(h_t²) of the dropped output keeps activations small; TAR β·mean((h_t − h_{t−1})²) of the output
        before dropout keeps them from jumping between time steps. Added to the loss, never to the recorded
        train_loss, which stays the data's cross-entropy (as L2's is)."""
        alpha, beta = self.knobs["ar"], self.knobs["tar"]
        (raw, dropped), self.model.top_output = self.model.top_output, None
        terms = []  # none while both are off: the step's graph gains no node for them
        if alpha:
            terms.append(alpha * dropped.pow(2).mean())
        if beta and raw.size(1) > 1:
            terms.append(beta * (raw[:, 1:] - raw[:, :-1]).pow(2).mean())
        return sum(terms[1:], terms[0]) if terms else None

    def _add_penalty_gradients(self) -> None:
        """∂(λ₂Σw²)/∂w = 2λ₂w and ∂(λ₁Σ|w|)/∂w = λ₁·sign(w), added straight to .grad (no extra graph).
        The L1 subgradient only when l1_kind is subgradient: the proximal kind applies L1 after the step."""
        l2 = self.knobs["l2"]
        l1 = self.knobs["l1"] if self.knobs["l1_kind"] == "subgradient" else 0.0
        if l2 == 0 and l1 == 0:
            return
        weights = [w for w in self.penalised if w.grad is not None]
        grads = [w.grad for w in weights]
        if l2:
            torch._foreach_add_(grads, weights, alpha=2 * l2)
        if l1:
            torch._foreach_add_(grads, torch._foreach_sign(weights), alpha=l1)

    @torch.no_grad()
    def _l1_proximal_step(self) -> None:
        """The proximal (ISTA) step for λ₁Σ|w|: w ← sign(w)·max(|w| − lr·λ₁, 0), after the optimiser's step.
        A weight whose magnitude is under lr·λ₁ lands on exactly 0 and stays there until the data's gradient
        pushes it out by more than that. The subgradient λ₁·sign(w) cannot do this: it kicks a small weight
        across 0 and back, so weights hover around 0 at about the step size (Adam normalises the kick to
        about lr whatever λ₁ is) and never equal 0."""
        l1 = self.knobs["l1"]
        if l1 == 0 or self.knobs["l1_kind"] != "proximal":
            return
        threshold = self.knobs["lr"] * l1
        for w in self.penalised:
            w.copy_(torch.sign(w) * torch.clamp(w.abs() - threshold, min=0.0))

    def _clip(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (total norm before clipping, total norm after)."""
        grads = [p.grad for p in self.params if p.grad is not None]
        total = nn.utils.get_total_norm(grads)
        clip, mode = self.knobs["clip"], self.knobs["clip_mode"]
        if clip == 0:
            return total, total
        if mode == "norm":
            nn.utils.clip_grads_with_norm_(self.params, clip, total)
            return total, total * torch.clamp(clip / (total + 1e-6), max=1.0)
        nn.utils.clip_grad_value_(self.params, clip)
        return total, nn.utils.get_total_norm(grads)

    def step(self, waited: float = 0.0) -> list[dict]:
        """Advance one training step; returns its records (knob events, the step, maybe an evaluation).
        `waited`: the seconds it waited for its slice of the shared cores (explorer.runs.cpu), in its speed."""
        if self.done:
            return []
        self.step_count += 1
        records = self._apply_pending()
        start = time.perf_counter()
        x, y, new_epoch = self.train_stream.next()
        if new_epoch:
            self.state = None
        x, blank = noise_inputs(x, self.knobs["noise"], self.knobs["noise_kind"], self.unigram, self.model.generator)
        detail = self.budget.due("detail", self.step_count)
        self.model.taps = {} if detail and self._drops_something() else None
        loss = self.loss_and_gradients(x, y, blank)
        taps, self.model.taps = self.model.taps, None
        detail_start = time.perf_counter()
        details = gradient_details(self.groups, self.penalised) if detail else None
        detail_s = time.perf_counter() - detail_start
        norm_before, norm_after = self._clip()
        loss_value, norm_before_value, norm_after_value = torch.stack([loss, norm_before, norm_after]).tolist()

        cause = _divergence_cause(loss_value, norm_before_value)
        if cause:
            records.append(self._diverged(cause))
            return records
        self.optimizer.step()
        self._l1_proximal_step()
        elapsed = time.perf_counter() - start
        self.budget.trained_step(elapsed - detail_s)
        tokens_per_s = self.speed.step(elapsed + waited, x.numel())

        record = {
            "kind": "step",
            "step": self.step_count,
            "epoch": round(self.train_stream.epoch, 4),
            "train_loss": loss_value,
            "grad_norm": norm_before_value,
            "grad_norm_after": norm_after_value,
            "clipped": self.knobs["clip"] > 0 and norm_after_value < norm_before_value * (1 - 1e-6),
            "tokens_per_s": round(tokens_per_s, 1),
            "threads": torch.get_num_threads(),  # in force at this step: explorer.runs.cpu shares the cores
            **self.knobs,
        }
        if details is not None:
            detail_start = time.perf_counter()
            record.update(details.to_record())
            record["grad_reach"] = gradient_reach(self.model, *self.reach_sequence)
            if taps:
                record["masks"] = mask_record(taps, self.knobs, x[0], self.corpus.vocab.itos)
            self.budget.ran("detail", self.step_count, detail_s + time.perf_counter() - detail_start)
        records.append(record)

        if self.step_count % self.config.eval_every == 0:
            records.extend(self._evaluate_and_maybe_stop())
        if not self.done and not self.open_ended and self.step_count >= self.config.steps:
            self.stopped_reason = "finished"
            records.append({"kind": "event", "event": "finished", "step": self.step_count})
        return records

    def _diverged(self, cause: str) -> dict:
        """Stop here, and the event that says why and what to do."""
        self.stopped_reason = "diverged"
        hint = "lower the learning rate or turn on gradient clipping, then reset"
        return {"kind": "event", "event": "diverged", "step": self.step_count, "cause": cause, "hint": hint}

    def _drops_something(self) -> bool:
        return any(self.knobs[k] > 0 for k in DROPOUT_RATES)

    # ------------------------------------------------------------------------------- evaluation
    def mean_loss(self, stream: BatchStream, batches: int) -> float:
        """Eval-mode loss (no dropout, running batch-norm statistics) over the first `batches` batches."""
        return self.mean_losses([stream], batches)[0]

    @torch.no_grad()
    def mean_losses(self, streams: list[BatchStream], batches: int, rows: int | None = None) -> list[float]:
        """`mean_loss` of each stream over the same number of batches, their rows evaluated together.
        Each row carries its own state from batch to batch and no row depends on another, so the rows are
        read `rows` at a time (default `eval_rows`): the same numbers at any evaluation batch size."""
        counts = {min(batches, stream.batches_per_epoch) for stream in streams}
        if len(counts) > 1:  # a split too short for `batches`: each stream on its own
            return [self.mean_losses([stream], batches, rows)[0] for stream in streams]
        n, seq_len = counts.pop(), streams[0].seq_len
        text = torch.cat([stream.rows[:, : n * seq_len + 1] for stream in streams])
        rows = rows or self.eval_rows(len(text), seq_len)
        self.model.eval()
        per_row = []
        for group in text.split(rows):
            state, total = None, torch.zeros(len(group), device=self.device)
            for i in range(0, n * seq_len, seq_len):
                logits, state = self.model(group[:, i : i + seq_len], state)
                targets = group[:, i + 1 : i + 1 + seq_len].reshape(-1)
                loss = F.cross_entropy(logits.reshape(-1, self.vocab_size), targets, reduction="none")
                total += loss.view(len(group), -1).sum(1)
            per_row.append(total)
        self.model.train()
        sums = torch.cat(per_row).split([len(stream.rows) for stream in streams])
        return [(part.sum() / (part.numel() * n * seq_len)).item() for part in sums]

    def eval_rows(self, rows: int, seq_len: int) -> int:
        """The evaluation batch: as many rows at once as keep one pass's logits within EVAL_LOGITS numbers
        (a word model's 10k-wide logits past that are slower to write than to compute), in equal groups."""
        most = max(1, EVAL_LOGITS // (seq_len * self.vocab_size))
        return math.ceil(rows / math.ceil(rows / most))

    def evaluate(self) -> dict:
        """Validation loss, and the training loss on a FIXED training subset in eval mode: the step loss
        under dropout is inflated, so the generalisation gap is measured against this one instead. Both
        in the same passes; the subset's rows' part of the time is counted as an instrument's."""
        start = time.perf_counter()
        streams = [self.valid_stream, self.train_subset]
        val, train = self.mean_losses(streams, self.config.eval_batches)
        subset_part = len(self.train_subset.rows) / sum(len(stream.rows) for stream in streams)
        self.budget.unspaced += (time.perf_counter() - start) * subset_part
        return {
            "kind": "eval",
            "step": self.step_count,
            "epoch": round(self.train_stream.epoch, 4),
            "val_loss": val,
            **readouts(val, self.corpus.level, "val"),
            "train_eval_loss": train,
            **readouts(train, self.corpus.level, "train_eval"),
            "gap": val - train,
            **self.budget.cadence(),
            **self.knobs,
        }

    def test_score(self, batches: int | None = None) -> dict:
        """The current model, in eval mode, on the held-out TEST split (every batch unless `batches`):
        {test_loss, test_ppl, test_bpc (char level only)}. For a final score, once, after training (and after
        early stopping's restore_best): choosing knobs by it would make it one more validation set."""
        if self._test_stream is None:
            config = self.config
            self._test_stream = BatchStream(self.corpus.test, config.batch_size, config.seq_len, self.device)
        stream = self._test_stream
        loss = self.mean_loss(stream, stream.batches_per_epoch if batches is None else batches)
        return {"test_loss": loss, **readouts(loss, self.corpus.level, "test")}

    def _evaluate_and_maybe_stop(self) -> list[dict]:
        record = self.evaluate()
        if not math.isfinite(record["val_loss"]):
            return [record, self._diverged("validation loss became NaN or infinite")]
        if self.meter and self.budget.due("meter", self.step_count):
            start = time.perf_counter()
            record.update(self.meter.measure(self.model))
            self.budget.ran("meter", self.step_count, time.perf_counter() - start)
        if record["val_loss"] < self.best_val_loss:
            self.best_val_loss, self.best_step, self.evals_since_best = record["val_loss"], self.step_count, 0
            self.best_weights = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        else:
            self.evals_since_best += 1
        record.update(best_val_loss=self.best_val_loss, best_step=self.best_step)
        records = [record]
        patience = self.knobs["early_stop"]
        if patience and self.evals_since_best >= patience:
            self.restore_best()
            self.stopped_reason = "early_stop"
            records.append(
                {
                    "kind": "event",
                    "event": "early_stop",
                    "step": self.step_count,
                    "best_step": self.best_step,
                    "best_val_loss": self.best_val_loss,
                    "patience": patience,
                }
            )
        return records

    def continue_training(self) -> None:
        """Train on after an early stop or a finished budget (the Train button): same model, same data
        position, patience counted afresh, no budget. A diverged model cannot go on."""
        if self.stopped_reason == "diverged":
            raise ConfigError("this run diverged (its weights are NaN): press Reset for a fresh model")
        self.stopped_reason, self.evals_since_best, self.open_ended = None, 0, True

    def checkpoint(self, copy_tensors: bool = True) -> dict:
        """Everything the next step depends on — weights, optimiser moments, data position, hidden state,
        the dropout generator, the knobs, the best-so-far — so a run restored from it takes exactly the
        step this one would (a branch, `explorer train --branch-from`). Tensors, numbers, lists, dicts
        only: `torch.load(weights_only=True)` reads it back. `copy_tensors=False` shares the live tensors,
        for a caller that writes them out at once (a periodic checkpoint: no second copy in memory)."""
        model, optimizer = self.model.state_dict(), self.optimizer.state_dict()
        return {
            "config": self.config.to_dict(),
            "step": self.step_count,
            "knobs": dict(self.knobs),
            "model": {k: v.detach().clone() for k, v in model.items()} if copy_tensors else model,
            "optimizer": copy.deepcopy(optimizer) if copy_tensors else optimizer,
            "position": self.train_stream.position,
            "hidden": detach_state(self.state),
            "generator": self.model.generator.get_state(),
            "best": [self.best_val_loss, self.best_step, self.evals_since_best],
            "best_weights": self.best_weights,
        }

    def restore(self, saved: dict) -> None:
        """Continue from `checkpoint()`'s state (this trainer was built from the same setup)."""
        saved = _with_new_parameters(saved, self.model)
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.step_count = saved["step"]
        self.budget.resume(self.step_count)
        # parsed, and a knob added since at its default: a checkpoint from before a rename or a new knob goes on
        # as it trained
        self.knobs = {**Config().live(), **{k: KNOBS[k].parse(v) for k, v in saved["knobs"].items()}}
        self.model.apply_knobs(self.knobs)
        self.train_stream.position = saved["position"]
        hidden = saved["hidden"]
        self.state = None if hidden is None else [_to(layer, self.device) for layer in hidden]
        self.model.generator.set_state(saved["generator"])
        self.best_val_loss, self.best_step, self.evals_since_best = saved["best"]
        self.best_weights = saved["best_weights"]
        if self.knobs["early_stop"] and self.evals_since_best >= self.knobs["early_stop"]:
            self.evals_since_best = 0  # branched where it stopped early: it goes on, as Continue would

    def restore_best(self) -> None:
        """Put back the weights of the best validation loss seen so far."""
        if self.best_weights is not None:
            self.model.load_state_dict(self.best_weights)

    # ------------------------------------------------------------------------------- whole runs
    def start_record(self) -> dict:
        return {
            "kind": "start",
            "config": self.config.to_dict(),
            "device": str(self.device),
            "vocab_size": self.vocab_size,
            "parameters": count_parameters(self.model),
            "train_tokens": len(self.corpus.train),
            "valid_tokens": len(self.corpus.valid),
            "batches_per_epoch": self.train_stream.batches_per_epoch,
            "groups": list(self.groups),
            "grad_hist_edges": GRAD_HIST_EDGES.tolist(),
            "note": "train_loss is the step loss in training mode (inflated by dropout); "
            "train_eval_loss is eval mode on a fixed training subset; gap = val_loss - train_eval_loss",
        }

    def run(
        self,
        schedule: dict[int, dict] | None = None,
        start: bool = True,
        between_steps: Callable[[], None] | None = None,
    ) -> Iterator[dict]:
        """THE loop driver (the CLI, the live worker and the lessons all train through it): every record
        until the run ends. `schedule` maps a step to knob changes in force from that step; `start`
        False goes on without a start record (a live worker sends its own, then may continue a run);
        `between_steps` is called before each step (a live worker serves its page there, and holds
        while paused)."""
        schedule = schedule or {}
        if start:
            yield self.start_record()
        while not self.done:
            waited = between_steps() if between_steps is not None else None
            if self.step_count + 1 in schedule:
                self._bursts.clear()  # a scheduled change is its own event however soon it follows another
                self.set_knobs(**schedule[self.step_count + 1])
            yield from self.step(waited or 0.0)


class Speed:
    """Tokens per second over the last RATE_WINDOW_S of training (the waits for a slice of the shared cores
    included, pauses not): a run that trains in slices shows what it gets, not its pace within one. The
    first step is all warm-up, so the window starts at the second."""

    def __init__(self):
        self.recent: deque[tuple[float, int]] = deque()
        self.seconds, self.tokens, self.steps = 0.0, 0, 0

    def step(self, seconds: float, tokens: int) -> float:
        self.steps += 1
        if self.steps == 1:
            return tokens / max(seconds, 1e-9)
        self.recent.append((seconds, tokens))
        self.seconds, self.tokens = self.seconds + seconds, self.tokens + tokens
        while len(self.recent) > 1 and self.seconds - self.recent[0][0] >= RATE_WINDOW_S:
            old_seconds, old_tokens = self.recent.popleft()
            self.seconds, self.tokens = self.seconds - old_seconds, self.tokens - old_tokens
        return self.tokens / max(self.seconds, 1e-9)


def _with_new_parameters(saved: dict, model: RNNLM) -> dict:
    """A checkpoint written before the model had some of its parameters (the blank embedding of data noising,
    the in-cell norms): they start as in a new model (unused until their knob is on), the optimiser holds them
    as its newest parameters, where a new optimiser has them (made last, in the unpenalised group)."""
    missing = [name for name, _ in model.named_parameters() if name not in saved["model"]]
    if not missing:
        return saved
    optimizer = copy.deepcopy(saved["optimizer"])
    groups = optimizer["param_groups"]
    newest = max(i for group in groups for i in group["params"])
    groups[-1]["params"].extend(range(newest + 1, newest + 1 + len(missing)))
    best = saved["best_weights"]
    return {
        **saved,
        "model": model.completed(saved["model"]),
        "optimizer": optimizer,
        "best_weights": None if best is None else model.completed(best),
    }


def _to(layer, device: torch.device):
    return tuple(t.to(device) for t in layer) if isinstance(layer, (tuple, list)) else layer.to(device)


def _divergence_cause(loss: float, grad_norm: float) -> str | None:
    if math.isnan(loss):
        return "loss became NaN"
    if math.isinf(loss):
        return "loss became infinite"
    if not math.isfinite(grad_norm):
        return "gradient norm became NaN or infinite"
    return None
