"""The trainer's contracts: penalties, clipping, live knobs, early stopping, divergence, determinism."""

import math
import time

import torch

from explorer.core.data import BatchStream
from explorer.core.train import Trainer
from explorer.spec.wording import bits_per_char, loss_readout
from tests.conftest import tiny


def gradients(trainer: Trainer) -> dict[str, torch.Tensor]:
    trainer.state = None
    x, y = trainer.train_stream.batch(0)
    trainer.loss_and_gradients(x, y)
    return {name: p.grad.clone() for name, p in trainer.model.named_parameters() if p.grad is not None}


def total_grad_norm(trainer: Trainer) -> float:
    return torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in trainer.params if p.grad is not None])).item()


def test_l2_penalty_gradient_is_two_lambda_w():
    trainer = Trainer(tiny())
    plain = gradients(trainer)
    trainer.set_knobs(l2=0.01)
    trainer._apply_pending()
    penalised = gradients(trainer)
    weights = {id(p) for p in trainer.penalised}
    for name, p in trainer.model.named_parameters():
        if name not in plain:
            continue  # normalisation parameters unused while batch/layer norm is off
        expected = 2 * 0.01 * p.detach() if id(p) in weights else torch.zeros_like(p)
        assert torch.allclose(penalised[name] - plain[name], expected, atol=1e-6), name
    assert any(p.dim() == 1 for p in trainer.model.parameters())  # biases exist and were left alone


def test_l1_penalty_gradient_is_lambda_sign_w():
    trainer = Trainer(tiny())
    plain = gradients(trainer)
    trainer.set_knobs(l1=0.001)
    trainer._apply_pending()
    penalised = gradients(trainer)
    w = trainer.model.rnns[0].weight_hh_l0
    assert torch.allclose(
        penalised["rnns.0.weight_hh_l0"] - plain["rnns.0.weight_hh_l0"], 0.001 * torch.sign(w.detach()), atol=1e-7
    )


def test_clipping_by_norm_caps_the_total_norm_and_records_the_true_one():
    trainer = Trainer(tiny(clip=0.05, lr=0.01))
    for _ in range(5):
        # the true pre-clip norm, from the same state and batch, computed independently
        probe_state = trainer.state
        x, y = trainer.train_stream.batch(trainer.train_stream.position % trainer.train_stream.batches_per_epoch)
        trainer.loss_and_gradients(x, y)
        true_norm = total_grad_norm(trainer)
        trainer.state = probe_state
        record = [r for r in trainer.step() if r["kind"] == "step"][0]
        assert math.isclose(record["grad_norm"], true_norm, rel_tol=1e-4)
        after = total_grad_norm(trainer)
        assert after <= 0.05 * (1 + 1e-4)
        assert record["clipped"] == (true_norm > 0.05)
        assert math.isclose(record["grad_norm_after"], after, rel_tol=1e-3)


def test_clipping_by_value_caps_every_element():
    trainer = Trainer(tiny(clip=1e-3, clip_mode="value"))
    record = [r for r in trainer.step() if r["kind"] == "step"][0]
    assert max(p.grad.abs().max().item() for p in trainer.params if p.grad is not None) <= 1e-3 + 1e-9
    assert record["clipped"] and record["grad_norm_after"] < record["grad_norm"]


def test_clip_zero_means_no_clipping():
    trainer = Trainer(tiny(clip=0))
    record = [r for r in trainer.step() if r["kind"] == "step"][0]
    assert not record["clipped"] and record["grad_norm_after"] == record["grad_norm"]


def test_a_knob_set_between_steps_is_in_force_from_the_next_step():
    trainer = Trainer(tiny(steps=10))
    records = list(trainer.run(schedule={6: {"dropout": 0.5, "batchnorm": True}}))
    steps = {r["step"]: r for r in records if r["kind"] == "step"}
    assert steps[5]["dropout"] == 0.0 and steps[6]["dropout"] == 0.5 and steps[10]["dropout"] == 0.5
    assert steps[5]["batchnorm"] is False and steps[6]["batchnorm"] is True
    events = [r for r in records if r["kind"] == "event" and r["event"] == "knob"]
    assert {(e["step"], e["knob"], e["old"], e["new"]) for e in events} == {
        (6, "dropout", 0.0, 0.5),
        (6, "batchnorm", False, True),
    }
    assert trainer.model.dropout == 0.5 and trainer.model.batchnorm


def test_learning_rate_and_weight_decay_reach_the_optimizer():
    trainer = Trainer(tiny(optimizer="adamw"))
    trainer.set_knobs(lr=0.01, weight_decay=0.1)
    trainer.step()
    groups = trainer.optimizer.param_groups
    assert [g["lr"] for g in groups] == [0.01, 0.01]
    assert groups[0]["weight_decay"] == 0.1 and groups[1]["weight_decay"] == 0.0


def test_early_stopping_restores_the_best_weights():
    # A big model on very little text overfits within a few evaluations.
    trainer = Trainer(tiny(hidden=64, train_fraction=0.003, lr=0.01, steps=2000, eval_every=5, early_stop=2))
    records = list(trainer.run())
    stop = [r for r in records if r["kind"] == "event" and r["event"] == "early_stop"]
    assert stop, "the run should have stopped early"
    evals = [r for r in records if r["kind"] == "eval"]
    assert evals[-1]["val_loss"] > stop[0]["best_val_loss"]
    assert min(e["val_loss"] for e in evals) == stop[0]["best_val_loss"]
    assert math.isclose(trainer.evaluate()["val_loss"], stop[0]["best_val_loss"], rel_tol=1e-5)


def test_divergence_ends_the_run_with_a_record_not_a_crash():
    trainer = Trainer(tiny(steps=300))
    trainer.step()
    with torch.no_grad():
        trainer.model.decoder.bias[0] = float("inf")  # what an exploding update leaves behind
    records = list(trainer.run())
    diverged = [r for r in records if r["kind"] == "event" and r["event"] == "diverged"]
    assert trainer.stopped_reason == "diverged" and len(diverged) == 1
    assert "NaN" in diverged[0]["cause"] or "infinite" in diverged[0]["cause"]
    assert trainer.step() == []


def test_same_seed_same_knobs_same_numbers():
    def run(seed):
        records = list(Trainer(tiny(seed=seed, dropout=0.3, weight_drop=0.2, embed_dropout=0.1)).run())
        return [{k: v for k, v in r.items() if k not in TIMED} for r in records if r["kind"] != "start"]

    assert run(3) == run(3)
    assert run(3) != run(4)


# measured durations, different every run
TIMED = ("tokens_per_s", "instrument_share", "train_eval_share", "instrument_warm_up_s")


def test_a_runs_speed_counts_its_waits_for_a_slice_of_the_cores():
    """A run that trains in slices (explorer.runs.cpu) shows what it gets of the cores, not its pace within one:
    its between-steps hook says how long it waited, and the speed is read over the latest RATE_WINDOW_S of both."""
    config = tiny(steps=30, eval_every=1000)
    tokens = config.batch_size * config.seq_len

    def speeds(wait: float) -> list[float]:
        def between_steps() -> float:
            time.sleep(wait)
            return wait

        records = Trainer(config).run(between_steps=between_steps)
        return [r["tokens_per_s"] for r in records if r["kind"] == "step"]

    alone, waiting = speeds(0.0), speeds(0.02)
    assert alone[-1] > tokens / 0.02  # a tiny step takes well under 20 ms
    assert tokens / 0.05 < waiting[-1] < tokens / 0.02  # 20 ms waited before every step, and the step itself


def test_detail_records_carry_group_norms_and_a_histogram():
    trainer = Trainer(tiny(layers=2, detail_every=1))
    expected = trainer.model.rnns[0].weight_hh_l0.detach().norm().item()  # details are taken before the update
    record = [r for r in trainer.step() if r["kind"] == "step"][0]
    assert set(record["grad_norms"]) >= {"embedding", "layer1.input", "layer1.recurrent", "layer2.recurrent", "decoder"}
    assert sum(record["grad_hist"]) == sum(p.numel() for p in trainer.params if p.grad is not None)
    assert math.isclose(record["weight_l2"]["layer1.recurrent"], expected, rel_tol=1e-5)


def test_every_cell_and_regulariser_trains():
    for cell in ("rnn", "gru", "lstm"):
        trainer = Trainer(
            tiny(
                cell=cell,
                layers=3,
                dropout=0.2,
                dropout_kind="locked",
                weight_drop=0.3,
                embed_dropout=0.1,
                batchnorm=True,
                layernorm=True,
                l2=1e-4,
                l1=1e-5,
                clip=1.0,
                tie_weights=True,
                init="orthogonal",
                optimizer="adamw",
                weight_decay=0.01,
                lr=0.01,
                steps=40,
                eval_every=40,
            )
        )
        records = list(trainer.run())
        losses = [r["train_loss"] for r in records if r["kind"] == "step"]
        assert trainer.stopped_reason == "finished", cell
        assert sum(losses[-5:]) < sum(losses[:5]), cell


def test_resolve_device_refuses_missing_cuda():
    from explorer.core.train import resolve_device
    from explorer.spec.errors import ConfigError

    if not torch.cuda.is_available():
        try:
            resolve_device("cuda")
        except ConfigError as err:
            assert "no CUDA GPU" in str(err)
        else:
            raise AssertionError("expected a ConfigError")
    assert resolve_device("cpu") == torch.device("cpu")


def zero_share(trainer: Trainer) -> float:
    weights = torch.cat([w.detach().flatten() for w in trainer.penalised])
    return (weights == 0).float().mean().item()


def test_proximal_l1_sets_weights_to_exactly_zero_and_the_subgradient_never_does():
    shares = {}
    for kind in ("proximal", "subgradient"):
        trainer = Trainer(tiny(l1=0.5, l1_kind=kind, lr=0.01, steps=50, eval_every=100))
        list(trainer.run())
        shares[kind] = zero_share(trainer)
    assert shares["proximal"] > 0.2, shares  # 31 % with seed 0
    assert shares["subgradient"] == 0.0, shares


def test_the_proximal_step_soft_thresholds_by_lr_times_lambda():
    trainer = Trainer(tiny(l1=0.1, l1_kind="proximal", lr=0.01))
    w = trainer.penalised[0]
    before = w.detach().clone()
    trainer._l1_proximal_step()
    assert torch.allclose(w.detach(), torch.sign(before) * torch.clamp(before.abs() - 0.001, min=0))
    assert ((before.abs() <= 0.001) == (w.detach() == 0)).all()


def test_proximal_l1_at_lambda_zero_changes_nothing():
    def run(kind):
        records = list(Trainer(tiny(l1=0.0, l1_kind=kind, steps=10)).run())
        skip = (*TIMED, "l1_kind", "config")
        return [{k: v for k, v in r.items() if k not in skip} for r in records]

    assert run("proximal") == run("subgradient")


def test_test_score_reads_the_whole_test_split_in_eval_mode():
    trainer = Trainer(tiny(dropout=0.5, steps=10))
    list(trainer.run())
    score = trainer.test_score()
    test = BatchStream(trainer.corpus.test, 4, 16, torch.device("cpu"))
    assert score["test_loss"] == trainer.mean_loss(test, test.batches_per_epoch)
    assert score["test_loss"] == trainer.test_score()["test_loss"]  # eval mode: no dropout, the same each time
    assert math.isclose(score["test_ppl"], math.exp(score["test_loss"]))
    assert math.isclose(score["test_bpc"], score["test_loss"] / math.log(2))
    assert trainer.test_score(batches=1)["test_loss"] == trainer.mean_loss(test, 1)
    assert score["test_loss"] != trainer.evaluate()["val_loss"]


def test_bits_per_character_at_char_level_only():
    char = Trainer(tiny(steps=5, eval_every=5))
    record = [r for r in char.run() if r["kind"] == "eval"][0]
    assert math.isclose(record["val_bpc"], record["val_loss"] / math.log(2))
    assert math.isclose(record["train_eval_bpc"], record["train_eval_loss"] / math.log(2))
    assert bits_per_char(math.log(2)) == 1.0
    assert loss_readout(math.log(8), "char") == "3.000 bpc" and loss_readout(math.log(8), "word") == "perplexity 8.0"
    word = Trainer(tiny(level="word", steps=5, eval_every=5, train_fraction=0.05))
    record = [r for r in word.run() if r["kind"] == "eval"][0]
    assert "val_ppl" in record and not {"val_bpc", "train_eval_bpc"} & set(record)
    assert set(word.test_score(batches=1)) == {"test_loss", "test_ppl"}


def test_a_checkpoint_from_before_the_rename_goes_on_with_locked_dropout():
    saved = Trainer(tiny(dropout=0.3, dropout_kind="locked")).checkpoint()
    saved["knobs"]["dropout_kind"] = "variational"
    del saved["knobs"]["l1_kind"]  # written before the knob existed
    trainer = Trainer(tiny(dropout=0.3, dropout_kind="locked"))
    trainer.restore(saved)
    assert trainer.knobs["dropout_kind"] == "locked" and trainer.model.dropout_kind == "locked"
    assert trainer.knobs["l1_kind"] == "subgradient"


def test_a_step_is_pytorch_examples_word_language_model_step_to_float64_rounding():
    """The same model and update as pytorch/examples word_language_model's main.py (embedding, a 2-layer nn.LSTM,
    decoder; its uniform(±0.1) initialisation; clip_grad_norm_ then p -= lr·grad), written here as main.py writes
    it: with the same weights and batches, 30 steps of SGD at lr 20 with clipping give the same losses and weights.
    Dropout is 0 so that no mask is drawn (explorer draws its masks batch-first from the run's own generator)."""
    torch.set_default_dtype(torch.float64)
    try:
        config = tiny(layers=2, lr=20.0, clip=0.25, optimizer="sgd", init="uniform", steps=30, eval_every=10**6)
        ours = Trainer(config)
        vocab, embed, hidden = ours.vocab_size, config.embed, config.hidden
        encoder, rnn, decoder = (
            torch.nn.Embedding(vocab, embed),
            torch.nn.LSTM(embed, hidden, 2),
            torch.nn.Linear(hidden, vocab),
        )
        with torch.no_grad():
            encoder.weight.copy_(ours.model.embedding.weight)
            decoder.weight.copy_(ours.model.decoder.weight)
            decoder.bias.copy_(ours.model.decoder.bias)
            for layer in range(2):
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    getattr(rnn, f"{name}_l{layer}").copy_(getattr(ours.model.rnns[layer], f"{name}_l0"))
        reference = [encoder, rnn, decoder]
        parameters = [p for module in reference for p in module.parameters()]
        stream = BatchStream(ours.corpus.train, config.batch_size, config.seq_len, "cpu")
        ours_losses = [r["train_loss"] for r in ours.run() if r["kind"] == "step"]
        hidden_state, losses = None, []
        for _ in range(config.steps):
            x, y, new_epoch = stream.next()
            if new_epoch:
                hidden_state = None
            hidden_state = None if hidden_state is None else tuple(h.detach() for h in hidden_state)
            for p in parameters:
                p.grad = None
            output, hidden_state = rnn(encoder(x.t()), hidden_state)  # main.py's (time, batch) layout
            loss = torch.nn.functional.nll_loss(
                torch.log_softmax(decoder(output), -1).view(-1, vocab), y.t().reshape(-1)
            )
            loss.backward()
            torch.nn.utils.clip_grad_norm_(parameters, 0.25)
            with torch.no_grad():
                for p in parameters:
                    p.add_(p.grad, alpha=-20.0)
            losses.append(loss.item())
        assert len(ours_losses) == len(losses) == 30
        assert max(abs(a - b) for a, b in zip(ours_losses, losses)) < 1e-9
        assert (ours.model.decoder.weight - decoder.weight).abs().max().item() < 1e-9
        assert (ours.model.rnns[1].weight_hh_l0 - rnn.weight_hh_l1).abs().max().item() < 1e-9
    finally:
        torch.set_default_dtype(torch.float32)
