"""The notebook / Voilà face: the live dashboard (`dashboard()`), and what a lesson draws besides it
(`experiment()`, `predict()` and `predict_first()`, `chart_widget()`, `claims_table()` and `held()`). A notebook
imports from here:

    from explorer.faces.notebook import chart_widget, dashboard, experiment, predict, predict_first
"""

from explorer.faces.notebook.chart import chart_widget
from explorer.faces.notebook.dashboard import Dashboard, dashboard
from explorer.faces.notebook.lessons import Prediction, claims_table, experiment, held, predict
from explorer.faces.notebook.predict_first import PredictFirst, predict_first
from explorer.faces.notebook.tabs import VIEWS

__all__ = [
    "VIEWS",
    "Dashboard",
    "Prediction",
    "PredictFirst",
    "chart_widget",
    "claims_table",
    "dashboard",
    "experiment",
    "held",
    "predict",
    "predict_first",
]
