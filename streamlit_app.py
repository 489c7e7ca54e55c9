"""The entry point `streamlit run streamlit_app.py` expects; the app is explorer/faces/streamlit/app.py."""

import runpy

runpy.run_module("explorer.faces.streamlit.app", run_name="__main__")
