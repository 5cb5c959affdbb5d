"""The compiled LSTM kernel: its C source, its build, its PyTensor Ops and the package's mode.

Knows nothing of the model: ``Backend`` is what the model compiles with.
"""
