"""Colorizing old films: video in and out (PyAV), per-frame colorization by the exported model, and a temporal
consistency step (flow-guided propagation of the colour, OpenCV DIS optical flow) so the colours do not flicker.

Modules, bottom to top: `errors` (the one vocabulary of failure), `containers` (file signatures and MP4 box walks,
no decoding), `reader` / `audio` / `writer` (PyAV), `flow` (optical flow and warping), `consistency` (the temporal
step), `flicker` (the flicker measure), `predictor` (the SavedModel's `predict_ab`), `colorize` (one video, end to
end), then the tools: `cli` (`colorize-video`, quiet through `terminal`) and `batch` (a Beam job, one video per
element). The web page's clips: `serving.web_clips`.
"""
