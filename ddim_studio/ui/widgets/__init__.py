"""Reusable widgets: image grids and canvases, sliders, progress rows, banners."""
