"""ShopDesk: a support agent for a small online shop, trained on its SQLite database (see README.md)."""
