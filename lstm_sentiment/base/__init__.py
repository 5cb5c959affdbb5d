"""The bottom layer: error types, atomic files, log lines and the commands' shared wrapper.

It imports nothing else of the package; every other room may import it.
"""
