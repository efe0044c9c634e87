"""Generate mode: sample images from seeds with DDIM, watch every step, compare like the paper."""
