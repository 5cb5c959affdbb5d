"""The training layer: ``train_lstm``, its options, and the state of a run that saves and restores itself."""
