"""Word-level speed of `explorer train` against the script a user would run instead: pytorch/examples
word_language_model (its main.py settings: 2×200 LSTM, SGD lr 20, clip 0.25, dropout 0.2, bptt 35,
batch 20), over the same training steps and the same evaluation work, on PTB by default.

    git clone https://github.com/pytorch/examples /tmp/pytorch-examples     # once, by hand
    python benchmarks/word_lm_speed.py --examples /tmp/pytorch-examples --steps 600

Nothing is downloaded here. Their `data.py` and `model.py` are imported unmodified from --examples;
main.py runs its whole training at import, so its train() and evaluate() bodies are repeated below
line for line (repackage_hidden, clip_grad_norm_, the manual SGD update p.data.add_(p.grad, alpha=-lr),
loss.item() every batch) and stop after --steps batches.

Evaluation work is the same on both sides: every --eval-every steps each side evaluates --eval-batches
batches (batch_size × bptt tokens each) of the validation text AND of a fixed training subset, as the
Trainer does by default (it needs the second one for the generalisation-gap view); main.py's evaluate()
does it for theirs. The report splits each side's time into training and evaluation, and also gives
the ratio where main.py evaluates only the validation subset, and where it keeps its own schedule (one
pass over the whole validation text per epoch, timed once and prorated to --steps).

Perplexity: after the run each model is scored on the WHOLE validation text with main.py's procedure
(evaluation batch 10, bptt 35, state carried, loss weighted by chunk length), so both are measured on
the same text the same way. Both sides run in one process, in alternating blocks of --eval-every steps
(the side that goes first alternates too), --repeats times; each side's fastest run counts.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import tempfile
import time
from collections import Counter
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from explorer.core.data import BatchStream
from explorer.core.train import Trainer
from explorer.spec.knobs import Config

PTB = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ptb"


def load_module(folder: Path, name: str):
    spec = importlib.util.spec_from_file_location(f"examples_word_lm_{name}", folder / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def prepare_corpus(corpus: Path, tmp: Path, vocab_size: int) -> Path:
    """A folder with train.txt/valid.txt/test.txt that both sides read (main.py's Corpus wants those names):
    a split folder's files linked under those names (PTB's ptb.train.txt, ...), or a single text file's
    non-blank lines split 90/5/5 in reading order (a blank line would be a lone <eos> for main.py only),
    with words outside the vocab_size - 2 most frequent training words written as <unk>, as PTB comes:
    then both sides have the same vocabulary (those words, <unk> and <eos>) and the same model size."""
    if corpus.is_file():
        lines = [line.split() for line in corpus.read_text(encoding="utf-8").splitlines() if line.split()]
        cuts = [0, int(0.9 * len(lines)), int(0.95 * len(lines)), len(lines)]
        counts = Counter(word for line in lines[: cuts[1]] for word in line)
        keep = {word for word, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[: vocab_size - 2]}
        for part, lo, hi in zip(("train", "valid", "test"), cuts, cuts[1:]):
            text = "".join(" ".join(w if w in keep else "<unk>" for w in line) + "\n" for line in lines[lo:hi])
            (tmp / f"{part}.txt").write_text(text, encoding="utf-8")
        return tmp
    for part in ("train", "valid", "test"):
        found = sorted(corpus.glob(f"{part}.txt")) or sorted(corpus.glob(f"*.{part}.txt"))
        if not found:
            raise SystemExit(f"{corpus} has no {part}.txt or *.{part}.txt")
        (tmp / f"{part}.txt").symlink_to(found[0].resolve())
    return tmp


class Timer:
    """Wall-clock seconds, and this process's CPU seconds: on a shared machine the second is what other
    processes' load disturbs least."""

    def __init__(self):
        self.seconds = self.cpu = 0.0

    def __enter__(self):
        self.start, self.cpu_start = time.perf_counter(), time.process_time()

    def __exit__(self, *_):
        self.seconds += time.perf_counter() - self.start
        self.cpu += time.process_time() - self.cpu_start


def times(train: Timer | None, val: Timer, sub: Timer, total: Timer | None = None) -> dict:
    """Each part on both clocks (`_s` wall, `_cpu`); with `total`, training is the total less the evaluations."""
    out = {}
    for clock, suffix in (("seconds", "_s"), ("cpu", "_cpu")):
        v, t = getattr(val, clock), getattr(sub, clock)
        out["train" + suffix] = getattr(total, clock) - v - t if total else getattr(train, clock)
        out["val_eval" + suffix], out["train_eval" + suffix] = v, t
    return out


# ------------------------------------------------------------------------------------ theirs


def run_examples(wlm: Path, folder: Path, args):
    """A generator: set up, then run one block of --eval-every steps (and its evaluation) per next(),
    and yield the results last."""
    data, model_module = load_module(wlm, "data"), load_module(wlm, "model")
    torch.manual_seed(1111)  # main.py's default --seed
    device = torch.device("cpu")
    corpus = data.Corpus(str(folder))

    def batchify(d, bsz):  # main.py
        nbatch = d.size(0) // bsz
        d = d.narrow(0, 0, nbatch * bsz)
        return d.view(bsz, -1).t().contiguous().to(device)

    bptt, bsz = args.bptt, args.batch_size
    train_data = batchify(corpus.train, bsz)
    val_data = batchify(corpus.valid, 10)  # main.py's eval_batch_size
    # the Trainer's evaluation subsets: the first eval_batches batches of each split, cut batch_size wide
    val_subset = batchify(corpus.valid, bsz)[: args.eval_batches * bptt + 1]
    train_subset = train_data[: args.eval_batches * bptt + 1]
    ntokens = len(corpus.dictionary)
    model = model_module.RNNModel("LSTM", ntokens, args.size, args.size, 2, args.dropout, False).to(device)
    criterion = nn.NLLLoss()
    yield None

    def repackage_hidden(h):
        return h.detach() if isinstance(h, torch.Tensor) else tuple(repackage_hidden(v) for v in h)

    def get_batch(source, i):
        seq_len = min(bptt, len(source) - 1 - i)
        return source[i : i + seq_len], source[i + 1 : i + 1 + seq_len].view(-1)

    def evaluate(data_source):  # main.py's evaluate(), for a source of any width
        model.eval()
        total_loss = 0.0
        hidden = model.init_hidden(data_source.size(1))
        with torch.no_grad():
            for i in range(0, data_source.size(0) - 1, bptt):
                x, targets = get_batch(data_source, i)
                output, hidden = model(x, hidden)
                hidden = repackage_hidden(hidden)
                total_loss += len(x) * criterion(output, targets).item()
        return total_loss / (len(data_source) - 1)

    lr, batches = args.lr, (train_data.size(0) - 1 + bptt - 1) // bptt
    train_t, val_t, sub_t = Timer(), Timer(), Timer()
    total_loss = 0.0
    model.train()
    for step in range(1, args.steps + 1):
        with train_t:  # main.py's train(), one batch
            batch = (step - 1) % batches
            if batch == 0:
                hidden = model.init_hidden(bsz)
            x, targets = get_batch(train_data, batch * bptt)
            model.zero_grad()
            hidden = repackage_hidden(hidden)
            output, hidden = model(x, hidden)
            loss = criterion(output, targets)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            for p in model.parameters():
                p.data.add_(p.grad, alpha=-lr)
            total_loss += loss.item()
        if step % args.eval_every == 0:
            with val_t:
                evaluate(val_subset)
            with sub_t:
                evaluate(train_subset)
            model.train()
        if step % args.eval_every == 0 or step == args.steps:
            yield None
    full_t = Timer()
    with full_t:
        full_val = evaluate(val_data)
    # main.py's own schedule evaluates the whole validation text once per epoch (its end-of-epoch evaluate)
    yield {
        **times(train_t, val_t, sub_t),
        "own_eval_s": full_t.seconds * args.steps / batches,
        "own_eval_cpu": full_t.cpu * args.steps / batches,
        "val_loss": full_val,
        "vocab": ntokens,
        "valid_tokens": len(corpus.valid),
    }


# ------------------------------------------------------------------------------------ explorer


@torch.no_grad()
def full_validation_loss(trainer: Trainer) -> float:
    """main.py's evaluate(val_data) for the explorer model: batch 10, bptt 35, state carried, weighted."""
    model, bptt = trainer.model, trainer.config.seq_len
    rows = BatchStream(trainer.corpus.valid, 10, bptt, trainer.device).rows  # (10, L), batch first
    model.eval()
    state, total = None, 0.0
    for i in range(0, rows.size(1) - 1, bptt):
        n = min(bptt, rows.size(1) - 1 - i)
        logits, state = model(rows[:, i : i + n], state)
        total += n * F.cross_entropy(logits.reshape(-1, logits.size(-1)), rows[:, i + 1 : i + 1 + n].reshape(-1)).item()
    model.train()
    return total / (rows.size(1) - 1)


def run_explorer(folder: Path, args):
    """A generator like run_examples: `explorer train`'s loop (Trainer.run) paused at the same steps."""
    config = Config(
        corpus=str(folder),
        level="word",
        cell="lstm",
        layers=2,
        hidden=args.size,
        embed=args.size,
        optimizer="sgd",
        lr=args.lr,
        clip=args.clip,
        dropout=args.dropout,
        seq_len=args.bptt,
        batch_size=args.batch_size,
        vocab_size=args.vocab_size,
        steps=args.steps,
        eval_every=args.eval_every,
        eval_batches=args.eval_batches,
        detail_every=args.detail_every,
        device="cpu",
    )
    trainer = Trainer(config)
    val_t, sub_t, total_t = Timer(), Timer(), Timer()
    mean_loss = trainer.mean_loss

    def timed_mean_loss(stream, batches):  # split evaluation time out of step() (the benchmark's view only)
        with val_t if stream is trainer.valid_stream else sub_t:
            return mean_loss(stream, batches)

    trainer.mean_loss = timed_mean_loss
    yield None
    records = trainer.run()
    while not trainer.done:
        with total_t:
            for record in records:
                json.dumps(record)  # what `explorer train --metrics-out` does with each record
                if record["kind"] == "eval" or record.get("event") == "finished":
                    break  # the end of a block: evaluated, or the last step
        yield None
    trainer.mean_loss = mean_loss
    yield {
        **times(None, val_t, sub_t, total_t),
        "val_loss": full_validation_loss(trainer),
        "vocab": trainer.vocab_size,
        "valid_tokens": len(trainer.corpus.valid),
    }


# ------------------------------------------------------------------------------------ report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", required=True, type=Path, help="a checkout of pytorch/examples")
    parser.add_argument(
        "--corpus",
        type=Path,
        default=PTB,
        help="a folder with train/valid/test (default PTB), or one text file to split by lines",
    )
    parser.add_argument(
        "--vocab-size",
        type=int,
        default=10_000,
        help="explorer's vocabulary cap (PTB has 10k words); for a text file, both sides' vocabulary",
    )
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--eval-every", type=int, default=Config.eval_every)
    parser.add_argument("--eval-batches", type=int, default=Config.eval_batches)
    parser.add_argument("--detail-every", type=int, default=Config.detail_every)
    parser.add_argument("--size", type=int, default=200, help="embedding and hidden size")
    parser.add_argument("--lr", type=float, default=20.0)
    parser.add_argument("--clip", type=float, default=0.25)
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--bptt", type=int, default=35)
    parser.add_argument("--batch-size", type=int, default=20)
    args = parser.parse_args()
    wlm = args.examples / "word_language_model"
    if not (wlm / "main.py").exists():
        raise SystemExit(f"{wlm}/main.py not found: --examples must be a checkout of pytorch/examples")
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        runs = compare(wlm, prepare_corpus(args.corpus, Path(tmp), args.vocab_size), args)
    report(runs, args)


def compare(wlm: Path, folder: Path, args) -> dict[str, list[dict]]:
    runs = {"main.py": [], "explorer": []}
    for repeat in range(args.repeats):
        sides = {"main.py": run_examples(wlm, folder, args), "explorer": run_explorer(folder, args)}
        for side in sides.values():
            next(side)  # set-up (reading the corpus, building the model) is not timed
        # one block of --eval-every steps on each side in turn, the first side alternating, so that a
        # machine that gets busier or quieter during the run weighs on both alike
        order, results = list(sides) if repeat % 2 == 0 else list(sides)[::-1], {}
        while len(results) < len(sides):
            for name in order:
                if name not in results:
                    out = next(sides[name])
                    if out is not None:
                        results[name] = out
            order.reverse()
        for name, result in results.items():
            runs[name].append(result)
            total = result["train_s"] + result["val_eval_s"] + result["train_eval_s"]
            print(
                f"  {name:9s} run {repeat + 1}: {args.steps / total:6.2f} steps/s with evaluation, "
                f"{args.steps / result['train_s']:6.2f} training only, val ppl {math.exp(result['val_loss']):.1f}",
                flush=True,
            )
    return runs


def report(runs: dict[str, list[dict]], args) -> None:
    any_ref, any_ours = runs["main.py"][0], runs["explorer"][0]
    print(
        f"\n{args.corpus.name}: LSTM 2×{args.size}, batch {args.batch_size}×{args.bptt}, SGD lr {args.lr:g}, "
        f"clip {args.clip:g}, dropout {args.dropout:g}, {args.steps} steps, torch threads {args.threads}; "
        f"vocab {any_ref['vocab']} (main.py) / {any_ours['vocab']} (explorer), validation tokens "
        f"{any_ref['valid_tokens']} / {any_ours['valid_tokens']}"
    )
    print(
        f"evaluation: {args.eval_batches} batches of validation + {args.eval_batches} of a training subset "
        f"every {args.eval_every} steps on both sides; explorer gradient details every {args.detail_every} steps"
    )
    for clock, suffix in (("wall clock", "_s"), ("CPU time of this process", "_cpu")):

        def rate(r, *parts, suffix=suffix):
            return args.steps / sum(r[p + suffix] for p in parts)

        # each side's fastest run on this clock
        ref, ours = (
            max(runs[name], key=lambda r: rate(r, "train", "val_eval", "train_eval"))
            for name in ("main.py", "explorer")
        )
        ours_all = rate(ours, "train", "val_eval", "train_eval")
        lines = [  # (what, main.py steps/s, explorer steps/s)
            ("SAME WORK: training + the same evaluation", rate(ref, "train", "val_eval", "train_eval"), ours_all),
            ("training only (evaluation excluded on both sides)", rate(ref, "train"), rate(ours, "train")),
            ("main.py evaluating the validation subset only", rate(ref, "train", "val_eval"), ours_all),
            ("main.py on its own schedule (1 validation pass/epoch)", rate(ref, "train", "own_eval"), ours_all),
        ]
        print(f"-- steps/s by {clock}")
        for what, a, b in lines:
            print(f"{what:54s} main.py {a:6.2f} | explorer {b:6.2f} | ratio {b / a:.3f}")
        for name, r in (("main.py", ref), ("explorer", ours)):
            print(
                f"   {name:9s} evaluation: validation {r['val_eval' + suffix]:.2f} s, "
                f"training subset {r['train_eval' + suffix]:.2f} s"
            )
    print(
        f"validation perplexity after {args.steps} steps (whole validation text, main.py's evaluate): "
        f"main.py {math.exp(any_ref['val_loss']):.2f} | explorer {math.exp(any_ours['val_loss']):.2f}"
    )


if __name__ == "__main__":
    main()
