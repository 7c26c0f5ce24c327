"""Model compression: knowledge distillation (distill), structured pruning of attention
heads and feed-forward units (prune), quantization-aware training (qat), the shared
training loop (loop) and the numbers the verbs report (report).

Imports TensorFlow: only the training verbs import this package, inside run().
"""
