# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # explorer — watch a recurrent language model overfit, then fix it live
#
# Press **▶ Train**: a small LSTM starts learning Tiny Shakespeare. While it trains, move the **live
# knobs** (dropout, L2 / L1 λ, clipping, batch norm, …): each acts on the running model at its next
# step, and the charts mark when it moved. Pick a **lesson preset** to set everything for one lesson,
# then press **↺ Reset** and **▶ Train**. **Save run** keeps a run's curves so the next
# one is drawn beside it (same seed: same data order and initial weights).
#
# A link can carry a setup: `?preset=dropout&dropout=0.3`.

# %%
import os

from explorer.widgets import dashboard

# Nothing trains until Train is pressed (Voilà may start this kernel before anyone opens the page).
dashboard(query=os.environ.get("QUERY_STRING", ""))
