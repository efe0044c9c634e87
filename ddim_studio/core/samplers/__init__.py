"""Samplers beside DDIM that follow the same ODE from the same x_T (``dpmpp_2m``)."""
