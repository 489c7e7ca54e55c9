"""The lessons' claims, measured: run preset pairs as `explorer train --preset NAME` would and print
what a class would see.

    python benchmarks/presets_demo.py            # overfit vs dropout, exploding vs clip

overfit: within 90 s the validation loss climbs ≥ 0.3 nats above its own minimum while the training
loss (eval mode) keeps falling. dropout (same seed): a lower best validation loss and a final gap
under half of overfit's. exploding: gradient-norm spikes and a loss blow-up; clip: neither.
"""

from __future__ import annotations

import time

from explorer.model import uniform_loss
from explorer.presets import preset_config
from explorer.train import Trainer


def run(name: str) -> dict:
    trainer = Trainer(preset_config(name))
    start, evals, steps, rise_at = time.perf_counter(), [], [], None
    for record in trainer.run():
        if record["kind"] == "step":
            steps.append(record)
        elif record["kind"] == "eval":
            record["elapsed_s"] = time.perf_counter() - start
            evals.append(record)
            best = min(e["val_loss"] for e in evals)
            if rise_at is None and record["val_loss"] - best >= 0.3:
                rise_at = record
    last = evals[-1]
    best = min(evals, key=lambda e: e["val_loss"])
    return {
        "name": name,
        "seconds": time.perf_counter() - start,
        "steps": trainer.step_count,
        "best_val": best["val_loss"],
        "best_step": best["step"],
        "final_val": last["val_loss"],
        "final_train": last["train_eval_loss"],
        "final_gap": last["val_loss"] - last["train_eval_loss"],
        "rise": last["val_loss"] - best["val_loss"],
        "rise_at": rise_at,
        "train_falling": last["train_eval_loss"] < best["train_eval_loss"],
        "max_grad": max(s["grad_norm"] for s in steps),
        "max_loss": max(s["train_loss"] for s in steps),
        "uniform": uniform_loss(trainer.vocab_size),
        "end": trainer.stopped_reason,
    }


def main() -> None:
    overfit, dropout = run("overfit"), run("dropout")
    for r in (overfit, dropout):
        rise = (
            f"rose 0.3 nats above its minimum by step {r['rise_at']['step']} ({r['rise_at']['elapsed_s']:.0f} s)"
            if r["rise_at"]
            else "never rose 0.3 nats above its minimum"
        )
        print(
            f"{r['name']:>9}: {r['steps']} steps in {r['seconds']:.0f} s | best val {r['best_val']:.3f} at step "
            f"{r['best_step']} | final val {r['final_val']:.3f}, train (eval mode) {r['final_train']:.3f}, "
            f"gap {r['final_gap']:.3f} | validation {rise}"
        )
    print(
        f"dropout vs overfit: best val {dropout['best_val']:.3f} vs {overfit['best_val']:.3f}; final gap ratio "
        f"{dropout['final_gap'] / overfit['final_gap']:.2f} (want < 0.5)"
    )
    for r in (run("exploding"), run("clip")):
        print(
            f"{r['name']:>9}: {r['steps']} steps, end: {r['end']} | max grad norm {r['max_grad']:.1f} | "
            f"max step loss {r['max_loss']:.2f} (uniform guess {r['uniform']:.2f}) | final val {r['final_val']:.3f}"
        )


if __name__ == "__main__":
    main()
