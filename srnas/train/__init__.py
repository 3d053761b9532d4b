"""Retraining of derived networks: the loop, the EMA of the weights and srnas model files."""
from srnas.train.loop import TrainResult, run_train  # noqa: F401
from srnas.train.model_file import load_model_file, load_pretrained, save_model_file  # noqa: F401

__all__ = ["TrainResult", "load_model_file", "load_pretrained", "run_train", "save_model_file"]
