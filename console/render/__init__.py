"""Pure functions from API values to table cells and text. No Textual import, no I/O."""
