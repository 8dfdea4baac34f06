"""An online shop: storefront reads, carts, checkout with stock locking, reviews and analytics."""

from .workload import EcommerceWorkload

WORKLOAD = EcommerceWorkload

__all__ = ["EcommerceWorkload", "WORKLOAD"]
