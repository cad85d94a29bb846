"""Shared Streamlit helpers for the Unposed app (pages only lay out widgets and call these
and unpose_core)."""
