"""Carts, checkout (one payment, one order per brand), orders and refunds."""
