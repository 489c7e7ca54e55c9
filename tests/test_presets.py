"""The presets are lessons: each must be a valid setup, pairs must differ only by the lesson's knob,
and the exploding/clip pair must show its effect (the claims over five seeds take minutes: see
benchmarks/lessons_over_seeds.py and the README's table)."""

from explorer.core.model import uniform_loss
from explorer.core.train import Trainer
from explorer.spec.knobs import Config
from explorer.spec.presets import PRESETS, preset_config


def test_every_preset_is_a_valid_config_with_a_line_of_text():
    for name, preset in PRESETS.items():
        assert isinstance(preset_config(name), Config)
        assert len(preset.teaches) > 20, name


def differences(a: str, b: str) -> dict:
    ca, cb = preset_config(a).to_dict(), preset_config(b).to_dict()
    return {k: (ca[k], cb[k]) for k in ca if ca[k] != cb[k]}


def test_lesson_pairs_differ_only_by_the_lesson_knob():
    assert differences("overfit", "dropout") == {"dropout": (0.0, 0.5)}
    assert differences("exploding", "clip") == {"clip": (0.0, 1.0)}
    assert set(differences("overfit", "l2")) == {"l2"}
    assert set(differences("overfit", "batchnorm")) == {"batchnorm"}
    assert set(differences("overfit", "early-stop")) == {"early_stop"}


def first_steps(name: str, steps: int = 60) -> tuple[list[dict], Trainer]:
    trainer = Trainer(preset_config(name).replace(steps=steps, eval_every=steps))
    return [r for r in trainer.run() if r["kind"] == "step"], trainer


def test_exploding_spikes_and_blows_up_while_clip_stays_calm():
    exploding, trainer = first_steps("exploding")
    clipped, _ = first_steps("clip")
    uniform = uniform_loss(trainer.vocab_size)
    assert max(r["grad_norm"] for r in exploding) > 10 * max(r["grad_norm"] for r in clipped)
    assert max(r["train_loss"] for r in exploding) > 1.5 * uniform  # worse than guessing: a blow-up
    assert sum(r["train_loss"] for r in clipped[-10:]) / 10 < uniform  # clipped: it is learning
    assert all(r["grad_norm_after"] <= 1.0 + 1e-4 for r in clipped)
