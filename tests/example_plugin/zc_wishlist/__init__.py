"""zc_wishlist: an example third-party Zhongcao plugin (a shopper's wishlist of brands)."""

__version__ = "0.1.0"
