"""Command builders: pure functions that return argv lists. Nothing here runs anything;
the executor renders and runs what these return, and tests compare them by value."""
