"""ganeval_train: reference GANs (DCGAN, WGAN-GP, cGAN, StyleGAN-lite) that produce samples for ganeval.

Depends on ganeval (never the reverse). Command line: ``ganeval-train`` (see ``ganeval_train.cli``).
"""
