"""The file `explorer app` and `explorer class` give `streamlit run` (it takes a file, not a module), shipped in the
package; its code is the top-level streamlit_app.py's, which a checkout runs."""

from explorer.faces.streamlit.app import main

main()
