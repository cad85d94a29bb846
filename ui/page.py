"""First lines of every page: make sure the page runs inside app.py's st.navigation.

Because the page files live in ``pages/``, Streamlit's legacy multipage mode runs a page
script on its own (without app.py: no sidebar, no navigation) when it is the first
script run of a fresh server process, and AppTest does so on every run. ``enter()``
notices that, switches Streamlit to app.py's st.navigation and reruns the same page.
"""
from __future__ import annotations

import streamlit as st


def enter() -> None:
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a future Streamlit without the legacy mode
        return
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
