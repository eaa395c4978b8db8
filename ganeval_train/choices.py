"""Model and preset names that `ganeval-train --help` shows without importing torch.

``ganeval_train.models`` defines MODELS and PRESETS with these keys (a test keeps them equal).
"""

MODEL_NAMES = ("dcgan", "wgan-gp", "cgan", "stylegan-lite")
PRESET_NAMES = ("small", "large")
