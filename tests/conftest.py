"""Shared pytest setup: the helpers in tests/engine and tests/common are importable everywhere."""
import os
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "engine"))
sys.path.insert(0, str(HERE / "common"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
