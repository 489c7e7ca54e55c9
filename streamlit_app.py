"""The entry point `streamlit run streamlit_app.py` expects; the app is explorer/faces/streamlit/app.py."""

from explorer.faces.streamlit.app import main

main()
