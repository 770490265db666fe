"""PyTorch side of `landscape`: networks, training loops and checkpoints."""
