"""Shared pytest setup: the test helpers in tests/engine are importable everywhere."""
import os
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "engine"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
