"""ShopDesk's oracle for rlagent's warm start (`task.custom.oracle`): the tool calls a careful agent makes for a
row, then its final reply. It is called as `solve(**row)`, like reset; it reads the request, the row's expected
answer and changes (ground truth, which the environment never sees) and the customer id in the row's id."""

from __future__ import annotations

import re
from typing import Any

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_ORDER = re.compile(r"#(\d+)")


def _call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


def solve(id: str, kind: str, prompt: list[dict], answer: str | None, changes: list[dict], **row: Any) -> list:
    request = prompt[-1]["content"]
    emails = _EMAIL.findall(request)
    email = emails[-1] if emails else None  # the old address when a new one is given first
    order = int(_ORDER.search(request).group(1)) if _ORDER.search(request) else None
    customer = int(id.split("-")[0][1:])
    if kind in ("count", "last_item", "spent"):
        unit = {"count": " orders", "spent": " dollars", "last_item": ""}[kind]
        return [_call("find_customer", email=email), _call("list_orders", customer_id=customer), f"{answer}{unit}."]
    if kind == "status":
        return [_call("get_order", order_id=order), f"Order #{order} is {answer}."]
    if kind in ("refund_full", "refund_partial"):
        amount = next(c["insert"]["amount"] for c in changes if "insert" in c)
        reason = "arrived broken" if kind == "refund_full" else "overcharged"
        return [
            _call("get_order", order_id=order),
            _call("refund_order", order_id=order, amount=amount, reason=reason),
            f"I refunded {amount:.2f} dollars on order #{order}.",
        ]
    if kind == "cancel":
        return [
            _call("get_order", order_id=order),
            _call("cancel_order", order_id=order),
            f"Order #{order} is cancelled.",
        ]
    if kind == "email":
        new = next(c["set"]["email"] for c in changes if c["table"] == "customers")
        return [
            _call("find_customer", email=email),
            _call("update_email", customer_id=customer, new_email=new),
            "The email address is updated.",
        ]
    return []
