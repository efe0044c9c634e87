"""The Edit mode: paint, mask and re-imagine a picture (SDEdit and DDIM inpainting)."""
