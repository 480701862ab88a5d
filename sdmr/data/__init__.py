"""The data contract: depth in metres, `Instances`, `CameraIntrinsics`, `Sample`, and I/O."""

from sdmr.data.depth_io import DEPTH_FILE_ENCODINGS, read_depth, valid_mask, validate_depth, write_depth
from sdmr.data.errors import DataError
from sdmr.data.input_encoding import INPUT_ENCODINGS, encode_depth_for_model
from sdmr.data.instances import Instances
from sdmr.data.intrinsics import CameraIntrinsics
from sdmr.data.sample import Sample

__all__ = [
    "DEPTH_FILE_ENCODINGS",
    "INPUT_ENCODINGS",
    "CameraIntrinsics",
    "DataError",
    "Instances",
    "Sample",
    "encode_depth_for_model",
    "read_depth",
    "valid_mask",
    "validate_depth",
    "write_depth",
]
