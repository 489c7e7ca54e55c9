# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 11 — Word level: embedding dropout and weight tying
#
# Every lesson so far read characters. Two regularisers were made for **words**, where the vocabulary is large
# and much of a model's parameters sit in two matrices of one row per word: the **embedding** $E$ that turns a
# word into a vector, and the **decoder** $W$ that scores every word of the vocabulary at the output.
#
# - **Embedding dropout** drops whole word *types*: a dropped word's embedding row is zero wherever that word
#   occurs, so the model cannot lean on any one word being there. Gal & Ghahramani (2016, their word embedding
#   dropout) draw one such mask per sequence; AWD-LSTM (Merity, Keskar & Socher 2018, section 4.3) draws one per
#   batch, and so does explorer, rescaling the
#   kept rows by $1/(1-p)$. On characters it drops a letter everywhere at once (lesson 2); on words it drops a word.
# - **Weight tying** uses one matrix for both: the decoder's weights *are* the embedding, $W = E$, so a word is
#   scored at the output by the same vector that represents it at the input (Press & Wolf 2017; Inan, Khosravi &
#   Socher 2017; AWD-LSTM uses it too, section 4.4). It needs the last layer's size to equal the embedding's (here both are 128, so tying changes
#   no layer's size); the decoder keeps its own bias.
#
# Every run here starts from the word-model initialisation of pytorch/examples' `word_language_model` (embedding
# and decoder weights uniform in $\pm 0.1$, the decoder's bias 0; explorer's `init="uniform"`): with PyTorch's
# default $\mathcal{N}(0, 1)$ embedding, a tied decoder would start from $\mathcal{N}(0, 1)$ weights too, which is
# a different experiment (see *Try this*).
#
# The per-token loss is $-\ln p(w_t \mid w_{<t})$ in nats, and its exponential is the perplexity,
#
# $$\text{perplexity} = \exp\Big(-\frac{1}{N}\sum_{t=1}^{N} \ln p(w_t \mid w_{<t})\Big),$$
#
# how many tokens the model is, on average, as unsure between as if it picked uniformly among them. Every word
# outside the vocabulary is the one token <unk>, which counts as one word in that average.

# %%
import json
import math

from IPython.display import Markdown, display

from explorer.core.data import EOS, UNK
from explorer.core.train import Trainer
from explorer.faces.notebook import claims_table, dashboard, experiment, predict, predict_first
from explorer.runs.experiments import SEEDS, setups
from explorer.runs.stats import paired
from explorer.spec.knobs import Config

# this lesson, as its claims are registered (explorer/runs/claims.py)
STEM = "11_word_level_embedding_dropout_and_tying"

EMBED_DROPOUT = 0.3
# An LSTM reading lower-cased, whitespace-separated tokens ("words"; punctuation stays attached, so "lord," is
# not "lord") of 5 % of Tiny Shakespeare's training split (interleaved split); its
# vocabulary: the most frequent tokens of the whole training split, <unk> for every other word.
words = Config(
    level="word",
    lowercase=True,
    vocab_size=500,  # small enough that nearly every word of it occurs in the text read (printed below)
    split="interleaved",
    train_fraction=0.05,
    cell="lstm",
    hidden=128,
    embed=128,
    init="uniform",
    seq_len=32,
    batch_size=16,
    lr=3e-3,
    steps=400,
    eval_every=20,
    eval_batches=5,
    detail_every=20,
    meter_every=0,
)
probe = Trainer(words)  # built, not trained: its text and its evaluation subset
corpus = probe.corpus
train_subset_tokens = len(probe.train_subset.rows) * words.eval_batches * words.seq_len


def share_of(split, token: str) -> float:
    return (split == corpus.vocab.stoi[token]).float().mean().item()


read = set(corpus.train.tolist())
unseen = len(corpus.vocab) - len(read)
unseen_share = sum(t not in read for t in corpus.test.tolist()) / len(corpus.test)


display(
    Markdown(f"""
The text, counted: {len(corpus.train):,} training tokens (words, and one {EOS} at the end of each line:
{share_of(corpus.train, EOS):.0%} of them), {len(corpus.valid):,} validation and {len(corpus.test):,} test tokens;
a vocabulary of {len(corpus.vocab):,}. The share of <unk>: {share_of(corpus.train, UNK):.1%} of the training
tokens, {share_of(corpus.valid, UNK):.1%} of the validation and {share_of(corpus.test, UNK):.1%} of the test
tokens (the interleaved split spreads every split over the book, and the vocabulary comes from the whole training
split: the shares agree within 2 points, a claim this lesson checks). At embedding dropout $p$ = {EMBED_DROPOUT},
one draw removes the <unk> row, and with it every unknown word of the batch at once, in {EMBED_DROPOUT:.0%} of the
batches: here that is {share_of(corpus.train, UNK):.0%} of the inputs, far more than on a corpus with a larger
vocabulary. Of the vocabulary, {unseen:,} words never occur in the text read here: they are
{unseen_share:.1%} of the test tokens, words the model meets first at test time.

## The experiment

Three runs, {len(SEEDS)} seeds each, the same in everything but the one thing named: **untied** with no dropout;
**embedding dropout** $p = {EMBED_DROPOUT}$; **tied**. The **best-step test loss** is the test loss of the weights
from the evaluation with the lowest validation loss (each evaluation reads {words.eval_batches} batches, that is
{words.eval_batches * words.batch_size * words.seq_len:,} validation tokens), restored as early stopping would
(lesson 6). The **gap** is the final validation loss minus the final training loss (measured with dropout off, on
{train_subset_tokens:,} tokens of the training text), read at step {words.steps}, the last. "Clearly" means that the 95 % interval of the per-seed difference includes
no 0.
""")
)

# %%
gap_question = predict(STEM, "embedding_gap")
dropout_question = predict(STEM, "embedding_test")
tie_question = predict(STEM, "tying_test")
ask = predict_first(gap_question, dropout_question, tie_question)
display(ask)


# %%
# %%after_prediction ask
def used_parameters(model) -> int:
    """The parameters the forward pass uses here: embedding, recurrent layers, decoder (a tied matrix once)."""
    modules = (model.embedding, *model.rnns, model.decoder)
    return sum(p.numel() for p in {id(p): p for m in modules for p in m.parameters()}.values())


untied_model, tied_model = Trainer(words).model, Trainer(words.replace(tie_weights=True)).model  # built, not trained
sizes = {"untied": used_parameters(untied_model), "tied": used_parameters(tied_model)}
removed = (sizes["untied"] - sizes["tied"]) / sizes["untied"]
print(
    f"Counted, not trained: {sizes['untied']:,} parameters untied, {sizes['tied']:,} tied, {removed:.0%} fewer: the "
    f"decoder's {untied_model.decoder.weight.shape[0]:,} × {untied_model.decoder.weight.shape[1]} weights. The "
    f"embedding holds as many, so tying removes under half whatever the sizes."
)

# %%
# %%after_prediction ask
runs = experiment(
    {
        "untied": words,
        f"embedding dropout {EMBED_DROPOUT}": words.replace(embed_dropout=EMBED_DROPOUT),
        "tied": words.replace(tie_weights=True),
    },
    seeds=SEEDS,
    threads=1,
)
plain, dropped, tied_runs = runs.values()


# %%
# %%after_prediction ask
def final_gap(result) -> float:
    return result.final("gap")


def final_train(result) -> float:
    return result.final("train_eval_loss")


def best_step_test(result) -> float:
    return result.best_test["test_loss"]


against_untied = {  # each arm against the untied run, seed by seed, on each measure
    name: {
        measure.__name__: paired(plain.by_seed(measure), arm.by_seed(measure))
        for measure in (best_step_test, final_gap, final_train)
    }
    for name, arm in runs.items()
    if arm is not plain
}
dropout_name = f"embedding dropout {EMBED_DROPOUT}"
results = {  # what the lesson's claims and questions read (explorer/runs), one value per seed; printed whole at the end
    "test": {name: arm.values(best_step_test) for name, arm in runs.items()},
    "gap": {name: arm.values(final_gap) for name, arm in runs.items()},
    "train": {name: arm.values(final_train) for name, arm in runs.items()},
}
gap_question.check(
    results,
    "Final gap, " + against_untied[dropout_name]["final_gap"].sentence("final gap", dropout_name, "untied") + ".",
)
print(gap_question.text)
for question, name in ((dropout_question, dropout_name), (tie_question, "tied")):
    change = against_untied[name]["best_step_test"]
    question.check(results, "Best-step test loss, " + change.sentence("test loss", name, "untied") + ".")
    print(question.text)
for name, arm in runs.items():
    print(
        f"{name:22s} best-step test loss {arm.spread(best_step_test)} (perplexity "
        + ", ".join(f"{math.exp(v):.0f}" for v in arm.values(best_step_test))
        + f"); final gap {arm.spread(final_gap)}; final training loss {arm.spread(final_train)}"
    )
for name, changes in against_untied.items():
    print(
        f"{changes['final_gap'].sentence('final gap', name, 'untied')}; "
        f"{changes['final_train'].sentence('final training loss', name, 'untied')}"
    )

# %%
# %%after_prediction ask
Markdown(rf"""
What the two do, and what the numbers above can and cannot say:

- **Embedding dropout** removes a word from the whole batch, so the model cannot count on any one word of a
  context being there. Compare the final training losses above: where the dropout runs' is higher, they fit
  the training text less well by step {words.steps} (more slowly, or to a higher floor: one step cannot tell),
  and a gap read at a fixed step mixes that with regularisation (lesson 5).
  The best-step test loss, the question's measure, weighs fit and gap together.
- **Tying** removes the decoder's own weights and, with them, the freedom to score a word at the output
  differently from how it is represented at the input: every update from the output side moves the input vectors
  too (Press & Wolf 2017 analyse this). Fewer parameters and a shared matrix are one change here; which of the two
  did the work, this experiment cannot separate. Its final gap and training loss above are read at a fixed step
  too.

Each verdict is about this model, this text and these {words.steps} steps; the tying papers measured far larger
word models on far more text. And with {len(SEEDS)} seeds, even seeds that all lean one way can leave the 95 %
interval across 0 (with so few, the interval is wide): then the verdict is "no clear difference", and the count
of seeds in the sentence says which way they leaned.
""")

# %%
# %%after_prediction ask
results.update(
    {
        "setups": setups(runs),  # every run's knobs: a claim comparing runs that differ in more is refused
        "parameters": sizes,
        "removed_share": removed,
        "unk_shares": [share_of(split, UNK) for split in (corpus.train, corpus.valid, corpus.test)],
        "unseen_share": unseen_share,
    }
)
print("RESULTS", json.dumps(results))  # one line the tests read back
display(claims_table(STEM, results, len(SEEDS)))  # its claims, as these runs decided them

# %% [markdown]
# ## Try this
#
# - In the dashboard below (this lesson's word model), press **▶ Train** and watch the gap open; then drag
#   **Embedding (word) dropout** to 0.3 while it trains: does the validation curve turn back down?
# - Under *Setup* switch **Tie embedding and decoder weights** on and press Reset, then Train: does the gap open
#   as fast?
# - Set **Initialisation** to **default** (PyTorch's N(0, 1) embedding) with the weights tied, and Reset:
#   how does tied's best-step test loss now compare with untied's, and why might the decoder's starting weights
#   matter?

# %%
display(
    dashboard(
        config=words,
        show=("embed_dropout", "dropout", "tie_weights", "init", "lr"),
        views=("gap", "compare"),
    )
)
