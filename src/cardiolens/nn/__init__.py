"""Network pieces cardiolens needs that MONAI lacks (e.g. the 1-D ECG ResNet)."""
