"""The model layer: the tutorial's ``lstm.py`` and optimizers, a trained model's files, and prediction.

Built on PyTensor and the kernel's ``Backend``; knows nothing of training loops or commands.
"""
