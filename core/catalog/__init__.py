"""Catalog: brands (merchants) and, with the commerce issue, products."""
