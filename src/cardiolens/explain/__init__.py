"""Explanations of the image and time-series networks.

- :mod:`cardiolens.explain.gradcam`: Grad-CAM for 2-D and 3-D convolution
  layers, one map per frame for CNN-LSTMs; upsampling and joint normalisation.
- :mod:`cardiolens.explain.saliency`: input-gradient saliency (optionally
  SmoothGrad), temporal importance profiles and frame occlusion.
- :mod:`cardiolens.explain.overlays`: animated GIF and PNG figures.

The submodules are not imported here: gradcam and saliency need torch, which
``import cardiolens`` must not load.
"""
