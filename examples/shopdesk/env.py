"""ShopDeskEnv: the tools a support agent has on ShopDesk's database.

Written to TRL's `environment_factory` contract and nothing else (no rlagent import): TRL's GRPOTrainer
takes it as `environment_factory=ShopDeskEnv`, rlagent as `task.custom.environment=...:ShopDeskEnv`.
Public methods are the tools; `reset(**row)` starts an episode on a fresh copy of the shop.
"""

from __future__ import annotations

import re
from typing import Any

from .store import TODAY, open_shop, snapshot

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")


class ShopDeskEnv:
    def __init__(self):
        self.db = None
        self.initial = None

    def reset(self, **row: Any) -> None:
        """A fresh shop per episode; the row's answer and expected changes stay with the reward, never here."""
        self.db = open_shop()
        self.initial = snapshot(self.db)

    def _order(self, order_id: int) -> dict[str, Any]:
        row = self.db.execute("SELECT * FROM orders WHERE id = ?", (order_id,)).fetchone()
        if row is None:
            raise ValueError(f"there is no order #{order_id}")
        return dict(row)

    def _refunded(self, order_id: int) -> float:
        query = "SELECT COALESCE(SUM(amount), 0) FROM refunds WHERE order_id = ?"
        return self.db.execute(query, (order_id,)).fetchone()[0]

    def find_customer(self, email: str) -> dict:
        """Look up a customer by email address.

        Args:
            email: The customer's email address.

        Returns:
            The customer's id, name, email, city and tier.
        """
        row = self.db.execute("SELECT * FROM customers WHERE email = ?", (email.strip().lower(),)).fetchone()
        if row is None:
            raise ValueError(f"no customer has the email {email}")
        return dict(row)

    def list_orders(self, customer_id: int) -> list:
        """List a customer's orders, newest first.

        Args:
            customer_id: The customer's id (find_customer gives it).

        Returns:
            Each order's id, date, item, status and total in dollars.
        """
        query = (
            "SELECT id, placed_on, item, status, total FROM orders WHERE customer_id = ? "
            "ORDER BY placed_on DESC, id DESC"
        )
        rows = self.db.execute(query, (customer_id,)).fetchall()
        return [dict(r) for r in rows]

    def get_order(self, order_id: int) -> dict:
        """Show one order, with the customer's id and what has been refunded on it so far.

        Args:
            order_id: The order number (requests write it as #NNNN).

        Returns:
            The order's fields plus `refunded`, the dollars refunded so far.
        """
        order = self._order(order_id)
        order["refunded"] = round(self._refunded(order_id), 2)
        return order

    def refund_order(self, order_id: int, amount: float, reason: str) -> str:
        """Refund part or all of a delivered order. A full refund marks the order as refunded.

        Args:
            order_id: The order number.
            amount: Dollars to refund; at most the order's total minus what was already refunded.
            reason: Why the customer gets the money back, in a few words.

        Returns:
            A confirmation with the refund's id.
        """
        order = self._order(order_id)
        if order["status"] != "delivered":
            raise ValueError(f"order #{order_id} is {order['status']}; only delivered orders can be refunded")
        left = round(order["total"] - self._refunded(order_id), 2)
        if not 0 < amount <= left + 1e-9:
            raise ValueError(f"the amount must be more than 0 and at most {left:.2f} for order #{order_id}")
        with self.db:
            cursor = self.db.execute(
                "INSERT INTO refunds (order_id, amount, reason, created_on) VALUES (?, ?, ?, ?)",
                (order_id, round(amount, 2), reason, TODAY),
            )
            if abs(left - amount) < 0.005:
                self.db.execute("UPDATE orders SET status = 'refunded' WHERE id = ?", (order_id,))
        return f"Refund #{cursor.lastrowid} of {amount:.2f} dollars recorded for order #{order_id}."

    def cancel_order(self, order_id: int) -> str:
        """Cancel an order that has not shipped yet (status processing).

        Args:
            order_id: The order number.

        Returns:
            A confirmation.
        """
        order = self._order(order_id)
        if order["status"] != "processing":
            raise ValueError(f"order #{order_id} is {order['status']}; only processing orders can be cancelled")
        with self.db:
            self.db.execute("UPDATE orders SET status = 'cancelled' WHERE id = ?", (order_id,))
        return f"Order #{order_id} is cancelled."

    def update_email(self, customer_id: int, new_email: str) -> str:
        """Change a customer's email address.

        Args:
            customer_id: The customer's id.
            new_email: The new email address.

        Returns:
            A confirmation.
        """
        new_email = new_email.strip().lower()
        if not EMAIL.match(new_email):
            raise ValueError(f"{new_email} is not an email address")
        if self.db.execute("SELECT 1 FROM customers WHERE email = ?", (new_email,)).fetchone():
            raise ValueError(f"{new_email} already belongs to a customer")
        with self.db:
            updated = self.db.execute("UPDATE customers SET email = ? WHERE id = ?", (new_email, customer_id)).rowcount
        if not updated:
            raise ValueError(f"there is no customer {customer_id}")
        return f"Customer {customer_id} now has the email {new_email}."
