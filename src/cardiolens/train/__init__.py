"""Training loops shared by the systems (Lightning on CPU or GPU; torch imported only here)."""
