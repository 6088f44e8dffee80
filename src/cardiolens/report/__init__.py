"""Reports: self-contained HTML pages and the figures they embed."""
