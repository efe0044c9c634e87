"""Interpolate mode: morph between two latents (slerp or lerp) and export the result."""
