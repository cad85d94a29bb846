"""Shared Streamlit helpers for the Unposed app (pages only lay out widgets and call these
and unpose_core). Every page starts with ``ui.frame.page(...)``."""
import os

os.environ.setdefault("GLOG_minloglevel", "2")       # quiet mediapipe's C++ logging
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
