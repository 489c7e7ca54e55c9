"""AR and TAR (Merity et al. 2018), the knobs added from the knob table alone: their gradients are the
penalties' own, training with them shrinks what they penalise, and the CLI, links and sweeps take them."""

import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from explorer.core.train import Trainer
from explorer.runs.sweep_plan import parse_grid
from explorer.spec.knobs import KNOBS, Config
from tests.conftest import tiny


def top_layer_output(trainer: Trainer, x: torch.Tensor) -> torch.Tensor:
    """The top recurrent layer's output for `x`, caught by a hook on the layer itself (not the model's own
    record of it), in evaluation mode."""
    caught = []
    hook = trainer.model.rnns[-1].register_forward_hook(lambda module, args, out: caught.append(out[0]))
    trainer.model.eval()
    with torch.no_grad():
        trainer.model(x)
    hook.remove()
    return caught[0]


def test_the_gradient_is_cross_entropy_plus_alpha_mean_h2_plus_beta_mean_step_difference():
    trainer = Trainer(tiny(ar=2.0, tar=1.0))
    x, y = trainer.train_stream.batch(0)
    trainer.state = None
    trainer.loss_and_gradients(x, y)
    got = {name: p.grad.clone() for name, p in trainer.model.named_parameters() if p.grad is not None}

    caught = []
    hook = trainer.model.rnns[-1].register_forward_hook(lambda module, args, out: caught.append(out[0]))
    trainer.model.zero_grad(set_to_none=True)
    logits, _ = trainer.model(x)
    hook.remove()
    h = caught[0]  # no dropout, norm or attention: the decoder's input is the layer's output
    loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
    (loss + 2.0 * h.pow(2).mean() + 1.0 * (h[:, 1:] - h[:, :-1]).pow(2).mean()).backward()
    for name, p in trainer.model.named_parameters():
        if name in got:
            assert torch.allclose(got[name], p.grad, atol=1e-6), name


def test_the_recorded_train_loss_stays_the_cross_entropy():
    plain, penalised = Trainer(tiny()), Trainer(tiny(ar=5.0, tar=5.0))
    first = [next(r for r in t.step() if r["kind"] == "step") for t in (plain, penalised)]
    assert first[0]["train_loss"] == first[1]["train_loss"]  # same seed, same weights before the first update
    assert (first[1]["ar"], first[1]["tar"]) == (5.0, 5.0)  # the knobs in force, in every record


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ar_shrinks_activations_and_tar_smooths_them_over_time(seed):
    """The penalties act on what they penalise: after 150 steps the top layer's output on the first validation
    batch (evaluation mode) is smaller with AR and changes less from step to step with TAR. This shows the knobs
    act, not that they regularise: their effect on validation loss is not measured here."""

    def trained(**knobs) -> torch.Tensor:
        trainer = Trainer(tiny(steps=150, seed=seed, **knobs))
        while not trainer.done:
            trainer.step()
        x, _ = trainer.valid_stream.batch(0)
        return top_layer_output(trainer, x)

    plain, ar, tar = trained(), trained(ar=5.0), trained(tar=5.0)

    def jump(h):
        return (h[:, 1:] - h[:, :-1]).pow(2).mean()

    ar_ratio, tar_ratio = float(ar.pow(2).mean() / plain.pow(2).mean()), float(jump(tar) / jump(plain))
    print(f"seed {seed}: mean h² × {ar_ratio:.2f} with AR 5, mean squared step × {tar_ratio:.2f} with TAR 5")
    assert ar_ratio < 0.7 and tar_ratio < 0.7


def test_they_are_live_and_the_cli_links_and_sweeps_take_them_from_the_table():
    assert KNOBS["ar"].live and KNOBS["tar"].live and KNOBS["ar"].widget and KNOBS["tar"].widget
    trainer = Trainer(tiny(steps=4))
    trainer.set_knobs(ar=1.0)
    records = [r for _ in range(2) for r in trainer.step() if r["kind"] == "step"]
    assert records[-1]["ar"] == 1.0
    assert Config.from_query(Config(ar=0.5, tar=2.0).to_query()) == Config(ar=0.5, tar=2.0)
    assert parse_grid(["tar=0,1"]) == {"tar": (0.0, 1.0)}
    help_text = subprocess.run(
        [sys.executable, "-m", "explorer", "train", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "--ar AR" in help_text and "--tar TAR" in help_text
