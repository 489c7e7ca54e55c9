"""Training keeps its freed memory: after the first steps, a step's large tensors come back without page faults
(explorer.core.allocator), in a fresh process as every training process is."""

import subprocess
import sys
import textwrap

import pytest

from explorer.core.allocator import reuse_freed_memory

STEPS = textwrap.dedent(
    """
    import resource, sys
    import torch
    from explorer.core.train import Trainer
    from explorer.spec.knobs import Config
    torch.set_num_threads(1)
    # 64 x 64 x 256 activations: 4 MB tensors, over glibc's default mmap threshold of 128 KB
    trainer = Trainer(Config(hidden=256, embed=64, batch_size=64, seq_len=64, train_fraction=0.2, device="cpu",
                             eval_every=10**6, detail_every=10**6, meter_every=0))
    for _ in range(5):
        trainer.step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        trainer.step()
    print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) // 5)
    """
)


@pytest.mark.skipif(not reuse_freed_memory(), reason="glibc's malloc only: another C library keeps its own ways")
def test_a_training_step_reuses_its_freed_tensors_instead_of_faulting_them_in_again():
    out = subprocess.run([sys.executable, "-c", STEPS], capture_output=True, text=True, check=True).stdout
    faults_per_step = int(out.split()[-1])
    # measured: about 200 with the settings, 9,500 without (every 4 MB tensor mapped and faulted in anew, 4 KB a
    # fault)
    assert faults_per_step < 2000, faults_per_step
