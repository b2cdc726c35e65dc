"""Stereo maths shared by every engine: depth to disparity, view synthesis, packing, and the
weight-free depth cues of the ``classical`` engine. Pure numpy / numba / OpenCV."""

from stereo_spot.stereo.depth_cues import estimate_depth, estimate_depth_small
from stereo_spot.stereo.disparity import disparity_from_depth
from stereo_spot.stereo.layouts import anaglyph, pack_stereo
from stereo_spot.stereo.render import render_depth_stream, render_stereo
from stereo_spot.stereo.temporal import DepthSmoother
from stereo_spot.stereo.view_synthesis import fill_invalid_disparity, render_right_view

__all__ = [
    "DepthSmoother",
    "anaglyph",
    "disparity_from_depth",
    "estimate_depth",
    "estimate_depth_small",
    "fill_invalid_disparity",
    "pack_stereo",
    "render_depth_stream",
    "render_right_view",
    "render_stereo",
]
