"""The creator portal for brands and creators, mounted at /creator through the
`zhongcao.surfaces` entry point group, like the storefront."""

__version__ = "0.1.0"
