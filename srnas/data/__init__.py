"""Images, the MATLAB-exact bicubic, transforms and datasets (benchmark pairs, training patches)."""
from srnas.data.folders import TrainDataset
from srnas.data.imageio import list_images, read_image, write_image
from srnas.data.paired import BenchmarkDataset
from srnas.data.prepare import prepare
from srnas.data.resize import bicubic_upscale, downscale, imresize_matlab

__all__ = [
    "BenchmarkDataset",
    "TrainDataset",
    "bicubic_upscale",
    "downscale",
    "imresize_matlab",
    "list_images",
    "prepare",
    "read_image",
    "write_image",
]
