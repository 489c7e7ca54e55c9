"""Imported once by the workers' forkserver, so every worker forked from it starts warm: what a first
Train would otherwise pay for in each worker (torch's optimiser machinery imports torch._dynamo, about
1.4 s; the bundled corpus is read and tokenised once) is done here, and its memory is shared."""

import torch

from .config import Config
from .data import Corpus
from .worker import serve  # noqa: F401 - the worker's code, imported before any fork

torch.optim.Adam([torch.zeros(1, requires_grad=True)])
Corpus.from_config(Config())
