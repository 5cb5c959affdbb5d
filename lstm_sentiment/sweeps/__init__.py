"""Sweeps on Ray Tune: a search space of train_lstm's arguments, its trials, and their table.

``space`` and ``results`` need neither Ray nor PyTensor; ``runner`` imports Ray
(the ``sweep`` extra) when a sweep starts.
"""
