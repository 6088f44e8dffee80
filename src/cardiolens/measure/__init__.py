"""Clinical measurements from images and signals, with units in every name."""
