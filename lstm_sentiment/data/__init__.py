"""The data layer: raw reviews to the tutorial's imdb.pkl, and imdb.pkl to padded minibatches.

NumPy only: nothing here imports PyTensor.
"""
