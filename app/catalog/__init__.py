"""Products, SKUs and their stock."""
