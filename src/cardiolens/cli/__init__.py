"""Command-line interface: parses arguments and calls the API, nothing more."""
