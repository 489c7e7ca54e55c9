"""The lessons' runs that several claims (explorer.runs.claims) and questions (explorer.runs.questions) compare, by
the names the lessons give them: one copy, so that a renamed run fails every comparison that names it."""

NORMALISED = (  # lesson 5
    "none",
    "(A) batch norm between layers",
    "(A) layer norm between layers",
    "(B) layer norm in the recurrence",
    "(B) recurrent batch norm",
)
DROPOUT_RUNS = ("no dropout", "standard 0.5", "locked 0.5", "naive recurrent 0.5", "Gal recurrent 0.5")  # lesson 2
DROPOUT_KNOBS = ("dropout", "dropout_kind", "recurrent_dropout", "recurrent_dropout_kind")  # lesson 2's knobs
SIZE_BY_DROPOUT = ("small", "small + dropout", "big", "big + dropout")  # lesson 7
