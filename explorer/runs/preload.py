"""Imported once by the workers' forkserver, so every worker forked from it starts warm: what a first
Train would otherwise pay for in each worker (torch's optimiser machinery imports torch._dynamo, about
1.4 s; the bundled corpus is read and tokenised once) is done here, and its memory is shared."""

import signal

# A Ctrl-C meant for the page (or a kernel interrupt) must not kill runs half-way through a write; workers
# forked from here inherit this, and notice their page going away by themselves.
signal.signal(signal.SIGINT, signal.SIG_IGN)

import torch  # noqa: E402

from explorer.core.data import Corpus  # noqa: E402
from explorer.runs.sweep import run_trial  # noqa: E402, F401 - a sweep trial's code too
from explorer.runs.worker import serve  # noqa: E402, F401 - the worker's code, imported before any fork
from explorer.spec.knobs import Config  # noqa: E402

torch.optim.Adam([torch.zeros(1, requires_grad=True)])
Corpus.from_config(Config())
