"""What the trainer's records hold that their readers must agree on: the core writes them, the views draw them."""

import numpy as np

# Fixed bins of log10 |gradient| so histograms from different steps (and runs) line up on one axis.
GRAD_HIST_EDGES = np.linspace(-10.0, 2.0, 49)
NEAR_ZERO = 1e-3  # |w| below this counts as "switched off" in the sparsity view (L1 drives weights there)
