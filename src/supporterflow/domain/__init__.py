"""Domain code: pure rules with no I/O, no clock reads and no third-party imports."""
