"""Write ShopDesk's database seed and its request rows: `python examples/shopdesk/make_data.py`.

Deterministic (a fixed seed), so the shipped files are what this script writes. Train rows are about
customers 1-10, held-out dev rows about customers 11-14: the same kinds of request on people and orders
the policy never saw in training.
"""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from pathlib import Path

DATA = Path(__file__).parent / "data"
TODAY = date(2024, 6, 30)
SYSTEM = (
    "You are the support agent of ShopDesk, a small online shop. Today is 2024-06-30. Use the tools to look "
    "things up and to make changes; change only what the request needs. When you are done, reply in one short "
    "sentence with the answer or with what you did."
)
PEOPLE = [
    ("Ana Silva", "Lisbon"),
    ("Ben Okafor", "Lagos"),
    ("Chloe Martin", "Lyon"),
    ("Dev Patel", "Pune"),
    ("Eva Novak", "Brno"),
    ("Femi Adeyemi", "Ibadan"),
    ("Greta Lund", "Malmo"),
    ("Hugo Costa", "Porto"),
    ("Ines Moreau", "Nantes"),
    ("Jon Berg", "Bergen"),
    ("Kira Sato", "Osaka"),
    ("Liam Walsh", "Cork"),
    ("Mia Rossi", "Turin"),
    ("Noah Klein", "Graz"),
]
ITEMS = [
    ("desk lamp", 39.0),
    ("office chair", 189.0),
    ("standing desk", 449.0),
    ("monitor arm", 79.5),
    ("keyboard", 64.99),
    ("wireless mouse", 29.99),
    ("webcam", 89.0),
    ("headset", 119.0),
    ("laptop stand", 45.0),
    ("cable organizer", 14.5),
    ("desk mat", 24.0),
    ("usb hub", 34.99),
    ("footrest", 52.0),
    ("whiteboard", 71.25),
]


def build(rng: random.Random) -> tuple[list[tuple], list[tuple], list[tuple]]:
    customers, orders, refunds = [], [], []
    order_id = 1001
    for cid, (name, city) in enumerate(PEOPLE, 1):
        email = f"{name.lower().replace(' ', '.')}@example.com"
        customers.append((cid, name, email, city, rng.choice(["standard", "standard", "gold"])))
        ages = sorted(rng.sample(range(1, 110), rng.randint(3, 5)), reverse=True)
        if cid % 3 == 0:
            ages[-1] = rng.randint(1, 3)  # a recent order that has not shipped yet
        for age in ages:
            item, price = rng.choice(ITEMS)
            total = round(price * rng.choice([1, 1, 1, 2]), 2)
            status = "processing" if age <= 3 else "shipped" if age <= 9 else "delivered"
            if status == "delivered" and rng.random() < 0.12:
                status = "cancelled"
            orders.append((order_id, cid, str(TODAY - timedelta(days=age)), item, status, total))
            order_id += 1
    for order in orders:
        if order[4] == "delivered" and rng.random() < 0.1:
            refunds.append((len(refunds) + 1, order[0], order[5], "item arrived damaged", order[2]))
    refunded = {r[1] for r in refunds}
    orders = [(o[0], o[1], o[2], o[3], "refunded" if o[0] in refunded else o[4], o[5]) for o in orders]
    return customers, orders, refunds


def sql(customers: list[tuple], orders: list[tuple], refunds: list[tuple]) -> str:
    lines = [
        "-- ShopDesk's database: written by make_data.py.",
        "CREATE TABLE customers (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, email TEXT NOT NULL UNIQUE,"
        " city TEXT NOT NULL, tier TEXT NOT NULL);",
        "CREATE TABLE orders (id INTEGER PRIMARY KEY AUTOINCREMENT, customer_id INTEGER NOT NULL REFERENCES "
        "customers(id), placed_on TEXT NOT NULL, item TEXT NOT NULL, status TEXT NOT NULL CHECK (status IN "
        "('processing', 'shipped', 'delivered', 'cancelled', 'refunded')), total REAL NOT NULL);",
        "CREATE TABLE refunds (id INTEGER PRIMARY KEY AUTOINCREMENT, order_id INTEGER NOT NULL REFERENCES orders(id),"
        " amount REAL NOT NULL, reason TEXT NOT NULL, created_on TEXT NOT NULL);",
    ]
    for table, rows in (("customers", customers), ("orders", orders), ("refunds", refunds)):
        for row in rows:
            values = ", ".join(repr(v) if isinstance(v, str) else str(v) for v in row)
            lines.append(f"INSERT INTO {table} VALUES ({values});")
    return "\n".join(lines) + "\n"


def requests(customer: tuple, orders: list[tuple], refunds: list[tuple], rng: random.Random) -> list[dict]:
    cid, name, email = customer[:3]
    mine = sorted((o for o in orders if o[1] == cid), key=lambda o: o[2], reverse=True)
    refunded = {r[1] for r in refunds}
    delivered = [o for o in mine if o[4] == "delivered" and o[0] not in refunded]
    rows = [
        (
            "count",
            rng.choice(
                [
                    f"How many orders has {email} placed with us?",
                    f"Quick check: how many orders do we have from {email}?",
                ]
            ),
            str(len(mine)),
            [],
        ),
        (
            "last_item",
            rng.choice(
                [f"What did {name} ({email}) order most recently?", f"Which item was in the latest order of {email}?"]
            ),
            mine[0][3],
            [],
        ),
    ]
    order = rng.choice(mine)
    rows.append(
        (
            "status",
            rng.choice(
                [
                    f"{email} asks where order #{order[0]} is. What is its status?",
                    f"What is the status of order #{order[0]}?",
                ]
            ),
            order[4],
            [],
        )
    )
    if any(o[4] == "delivered" for o in mine):
        spent = sum(o[5] for o in mine if o[4] == "delivered")
        rows.append(("spent", f"How much has {email} spent on delivered orders, in dollars?", f"{spent:.2f}", []))
    if delivered:
        full, part = delivered[0], delivered[-1]
        rows.append(
            (
                "refund_full",
                f"Order #{full[0]} from {email} ({full[3]}) arrived broken. Refund it in full.",
                None,
                [
                    {"table": "refunds", "insert": {"order_id": full[0], "amount": full[5]}},
                    {"table": "orders", "id": full[0], "set": {"status": "refunded"}},
                ],
            )
        )
        amount = round(part[5] * 0.2, 2)
        rows.append(
            (
                "refund_partial",
                f"{email} was overcharged {amount:.2f} dollars on order #{part[0]}. Refund that amount.",
                None,
                [{"table": "refunds", "insert": {"order_id": part[0], "amount": amount}}],
            )
        )
    for o in mine:
        if o[4] == "processing":
            rows.append(
                (
                    "cancel",
                    f"{name} ({email}) no longer wants order #{o[0]}. Please cancel it.",
                    None,
                    [{"table": "orders", "id": o[0], "set": {"status": "cancelled"}}],
                )
            )
            break
    new = f"{name.split()[0].lower()}.{name.split()[1][0].lower()}@mail.example.org"
    rows.append(
        (
            "email",
            f"{name} has a new email address, {new} (the old one is {email}). Update their account.",
            None,
            [{"table": "customers", "id": cid, "set": {"email": new}}],
        )
    )
    return [
        {
            "id": f"c{cid}-{kind}",
            "kind": kind,
            "prompt": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}],
            "answer": answer,
            "changes": changes,
        }
        for kind, text, answer, changes in rows
    ]


def main() -> None:
    rng = random.Random(2024)
    customers, orders, refunds = build(rng)
    DATA.mkdir(exist_ok=True)
    (DATA / "shop.sql").write_text(sql(customers, orders, refunds))
    rows = [requests(c, orders, refunds, rng) for c in customers]
    train = [r for c, rs in zip(customers, rows, strict=True) if c[0] <= 10 for r in rs]
    dev = [r for c, rs in zip(customers, rows, strict=True) if c[0] > 10 for r in rs]
    rng.shuffle(train)
    for name, split in (("train", train), ("dev", dev)):
        (DATA / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in split))
        print(f"{name}: {len(split)} rows")


if __name__ == "__main__":
    main()
