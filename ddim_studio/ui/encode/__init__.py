"""Encode mode: invert an image to its latent x_T with DDIM, and decode it back."""
