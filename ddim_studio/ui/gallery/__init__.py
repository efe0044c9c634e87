"""The shared gallery: the output folder as thumbnails, details and actions."""
