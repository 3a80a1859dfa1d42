"""One module per screen. ``base`` holds what every cluster view shares."""
