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
# **explorer** — press **▶ Train**, then move a live knob: the running model takes it at its next step and the
# charts mark it. A **lesson preset** sets everything for one lesson; setup waits for **↺ Reset**. A link can
# carry a setup: `?preset=dropout&dropout=0.3`, and fix or leave out knobs for a lesson:
# `?preset=dropout&lock=dropout,cell&hide=l2` (locked knobs are shown but do not move).

# %%
import os

from explorer.faces.notebook import dashboard

# Nothing trains until Train is pressed (Voilà may start this kernel before anyone opens the page).
dashboard(query=os.environ.get("QUERY_STRING", ""))
