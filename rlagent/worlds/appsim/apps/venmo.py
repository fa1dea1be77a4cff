"""The venmo app: a payments app with balances, friends, transactions and payment requests."""

from __future__ import annotations

from typing import Any

from rlagent.worlds.appsim.framework import ApiError, App, api

PUBLIC_USER = {"id": "integer", "first_name": "string", "last_name": "string", "email": "string"}
TRANSACTION = {
    "id": "integer",
    "sender_email": "string",
    "receiver_email": "string",
    "amount": "number",
    "description": "string",
    "created_at": "string",
    "private": "boolean",
}
PAYMENT_REQUEST = {
    "id": "integer",
    "requester_email": "string",
    "payer_email": "string",
    "amount": "number",
    "description": "string",
    "status": "string",
    "created_at": "string",
    "resolved_at": "string",
}
DIRECTIONS = ("sent", "received")
STATUSES = ("pending", "approved", "denied")


class VenmoApp(App):
    name = "venmo"
    description = "A payments app: your balance, friends, money sent and received, and payment requests."
    schema = """
    CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, first_name TEXT, last_name TEXT, email TEXT UNIQUE,
                        phone_number TEXT, password TEXT, balance REAL);
    CREATE TABLE friendships (user_id INTEGER, friend_id INTEGER, PRIMARY KEY (user_id, friend_id));
    CREATE TABLE transactions (id INTEGER PRIMARY KEY AUTOINCREMENT,
        sender_id INTEGER, receiver_id INTEGER, amount REAL,
                               description TEXT, created_at TEXT, private INTEGER);
    CREATE TABLE payment_requests (id INTEGER PRIMARY KEY AUTOINCREMENT,
        requester_id INTEGER, payer_id INTEGER, amount REAL,
                                   description TEXT, status TEXT, created_at TEXT, resolved_at TEXT);
    """

    # --- helpers ----------------------------------------------------------------------------
    @staticmethod
    def _public(user: dict[str, Any]) -> dict[str, Any]:
        return {k: user[k] for k in ("id", "first_name", "last_name", "email")}

    def _other(self, user: dict[str, Any], email: str) -> dict[str, Any]:
        other = self.must(self.user_by("email", email.strip()), f"User with email '{email}'")
        if other["id"] == user["id"]:
            raise ApiError(422, "You cannot do this with your own account.")
        return other

    @staticmethod
    def _amount(amount: float) -> float:
        amount = round(amount, 2)
        if amount <= 0:
            raise ApiError(422, "The amount must be greater than 0.")
        return amount

    def _are_friends(self, user_id: int, friend_id: int) -> bool:
        return (
            self.row("SELECT 1 AS x FROM friendships WHERE user_id = ? AND friend_id = ?", user_id, friend_id)
            is not None
        )

    def _transactions(self, where: str, *args: Any) -> list[dict[str, Any]]:
        rows = self.rows(
            "SELECT t.id, s.email AS sender_email, r.email AS receiver_email, t.amount, t.description, t.created_at, "
            "t.private, t.sender_id, t.receiver_id FROM transactions t JOIN users s ON s.id = t.sender_id "
            f"JOIN users r ON r.id = t.receiver_id WHERE {where} ORDER BY t.created_at DESC, t.id DESC",
            *args,
        )
        return [{**r, "private": bool(r["private"])} for r in rows]

    def _requests(self, where: str, *args: Any) -> list[dict[str, Any]]:
        return self.rows(
            "SELECT p.id, q.email AS requester_email, y.email AS payer_email, p.amount, p.description, p.status, "
            "p.created_at, p.resolved_at, p.requester_id, p.payer_id FROM payment_requests p "
            "JOIN users q ON q.id = p.requester_id JOIN users y ON y.id = p.payer_id "
            f"WHERE {where} ORDER BY p.created_at DESC, p.id DESC",
            *args,
        )

    @staticmethod
    def _strip_ids(record: dict[str, Any], *keys: str) -> dict[str, Any]:
        return {k: v for k, v in record.items() if k not in keys}

    def _transfer(
        self, sender: dict[str, Any], receiver: dict[str, Any], amount: float, description: str, private: bool
    ) -> int:
        if sender["balance"] < amount:
            raise ApiError(400, f"Insufficient balance: you have {sender['balance']:.2f}, the payment is {amount:.2f}.")
        self.execute("UPDATE users SET balance = ? WHERE id = ?", round(sender["balance"] - amount, 2), sender["id"])
        self.execute(
            "UPDATE users SET balance = ? WHERE id = ?", round(receiver["balance"] + amount, 2), receiver["id"]
        )
        return self.execute(
            "INSERT INTO transactions (sender_id, receiver_id, amount, description, created_at, private) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            sender["id"],
            receiver["id"],
            amount,
            description,
            self.now(),
            int(private),
        )

    def _pending_request_to_pay(self, user: dict[str, Any], payment_request_id: int) -> dict[str, Any]:
        found = self.row(
            "SELECT * FROM payment_requests WHERE id = ? AND (payer_id = ? OR requester_id = ?)",
            payment_request_id,
            user["id"],
            user["id"],
        )
        found = self.must(found, f"Payment request {payment_request_id}")
        if found["payer_id"] != user["id"]:
            raise ApiError(403, "Only the payer of a payment request may approve or deny it.")
        if found["status"] != "pending":
            raise ApiError(409, f"Payment request {payment_request_id} is already {found['status']}.")
        return found

    # --- users and friends ------------------------------------------------------------------
    @api(
        "GET",
        "/venmo/users",
        "Search venmo users by name or email.",
        params={
            "query": "Text to look for in the user's first name, last name, full name or email; empty matches all."
        },
        returns=[PUBLIC_USER],
    )
    def search_users(
        self, user: dict[str, Any], query: str = "", page_index: int = 0, page_limit: int = 5
    ) -> list[dict[str, Any]]:
        rows = self.rows("SELECT * FROM users ORDER BY first_name, last_name, id")
        needle = query.lower().strip()
        if needle:
            rows = [
                r
                for r in rows
                if needle in f"{r['first_name']} {r['last_name']}".lower() or needle in r["email"].lower()
            ]
        return self.page([self._public(r) for r in rows], page_index, page_limit)

    @api("GET", "/venmo/balance", "Show your venmo balance.", returns={"balance": "number"})
    def show_balance(self, user: dict[str, Any]) -> dict[str, Any]:
        return {"balance": float(user["balance"])}

    @api("GET", "/venmo/friends", "Your venmo friends, by name.", returns=[PUBLIC_USER])
    def show_friends(self, user: dict[str, Any], page_index: int = 0, page_limit: int = 5) -> list[dict[str, Any]]:
        rows = self.rows(
            "SELECT u.* FROM friendships f JOIN users u ON u.id = f.friend_id WHERE f.user_id = ? "
            "ORDER BY u.first_name, u.last_name, u.id",
            user["id"],
        )
        return self.page([self._public(r) for r in rows], page_index, page_limit)

    @api(
        "POST",
        "/venmo/friends",
        "Add a venmo user to your friends.",
        params={"user_email": "Email of the user to befriend."},
        returns={"message": "string"},
    )
    def add_friend(self, user: dict[str, Any], user_email: str) -> dict[str, Any]:
        other = self._other(user, user_email)
        if self._are_friends(user["id"], other["id"]):
            raise ApiError(409, f"You are already friends with {other['email']}.")
        self.execute("INSERT OR IGNORE INTO friendships (user_id, friend_id) VALUES (?, ?)", user["id"], other["id"])
        self.execute("INSERT OR IGNORE INTO friendships (user_id, friend_id) VALUES (?, ?)", other["id"], user["id"])
        return {"message": f"{other['email']} added to your friends."}

    @api(
        "DELETE",
        "/venmo/friends",
        "Remove a venmo user from your friends.",
        params={"user_email": "Email of the friend to remove."},
        returns={"message": "string"},
    )
    def remove_friend(self, user: dict[str, Any], user_email: str) -> dict[str, Any]:
        other = self._other(user, user_email)
        if not self._are_friends(user["id"], other["id"]):
            raise ApiError(409, f"You are not friends with {other['email']}.")
        self.execute(
            "DELETE FROM friendships WHERE (user_id = ? AND friend_id = ?) OR (user_id = ? AND friend_id = ?)",
            user["id"],
            other["id"],
            other["id"],
            user["id"],
        )
        return {"message": f"{other['email']} removed from your friends."}

    # --- transactions -----------------------------------------------------------------------
    @api(
        "GET",
        "/venmo/transactions",
        "Your transactions (money sent and received), newest first, optionally "
        "filtered by direction, other party and amount.",
        params={
            "direction": "'sent' (you paid) or 'received' (you were paid); leave out for both.",
            "user_email": "Only transactions with this user (the other party's email).",
            "min_amount": "Only transactions of at least this amount.",
            "max_amount": "Only transactions of at most this amount.",
        },
        returns=[TRANSACTION],
    )
    def show_transactions(
        self,
        user: dict[str, Any],
        direction: str | None = None,
        user_email: str | None = None,
        min_amount: float | None = None,
        max_amount: float | None = None,
        page_index: int = 0,
        page_limit: int = 5,
    ) -> list[dict[str, Any]]:
        if direction is not None and direction not in DIRECTIONS:
            raise ApiError(422, f"Invalid direction '{direction}': 'sent' or 'received'.")
        uid = user["id"]
        rows = self._transactions("t.sender_id = ? OR t.receiver_id = ?", uid, uid)
        if direction == "sent":
            rows = [r for r in rows if r["sender_id"] == uid]
        elif direction == "received":
            rows = [r for r in rows if r["receiver_id"] == uid]
        if user_email is not None:
            other = self.must(self.user_by("email", user_email.strip()), f"User with email '{user_email}'")
            rows = [r for r in rows if other["id"] in (r["sender_id"], r["receiver_id"])]
        if min_amount is not None:
            rows = [r for r in rows if r["amount"] >= min_amount]
        if max_amount is not None:
            rows = [r for r in rows if r["amount"] <= max_amount]
        rows = [self._strip_ids(r, "sender_id", "receiver_id") for r in rows]
        return self.page(rows, page_index, page_limit)

    @api("GET", "/venmo/transactions/{transaction_id}", "Show one of your transactions.", returns=TRANSACTION)
    def show_transaction(self, user: dict[str, Any], transaction_id: int) -> dict[str, Any]:
        found = self._transactions(
            "t.id = ? AND (t.sender_id = ? OR t.receiver_id = ?)", transaction_id, user["id"], user["id"]
        )
        record = self.must(found[0] if found else None, f"Transaction {transaction_id}")
        return self._strip_ids(record, "sender_id", "receiver_id")

    @api(
        "POST",
        "/venmo/transactions",
        "Send money from your balance to another venmo user.",
        params={
            "receiver_email": "Email of the user to pay.",
            "amount": "Amount to send, greater than 0 (rounded to cents).",
            "description": "A note for the payment.",
            "private": "Whether the transaction is private.",
        },
        returns={"transaction_id": "integer", "message": "string"},
    )
    def create_transaction(
        self, user: dict[str, Any], receiver_email: str, amount: float, description: str = "", private: bool = False
    ) -> dict[str, Any]:
        amount = self._amount(amount)
        receiver = self.must(self.user_by("email", receiver_email.strip()), f"User with email '{receiver_email}'")
        if receiver["id"] == user["id"]:
            raise ApiError(422, "You cannot send money to yourself.")
        transaction_id = self._transfer(user, receiver, amount, description, private)
        return {"transaction_id": transaction_id, "message": f"Sent {amount:.2f} to {receiver['email']}."}

    # --- payment requests -------------------------------------------------------------------
    @api(
        "GET",
        "/venmo/payment_requests",
        "Payment requests, newest first: 'received' ones ask you to pay, 'sent' ones are yours asking others to pay.",
        params={
            "direction": "'received' (others ask you to pay) or 'sent' (you ask others to pay).",
            "status": "Only requests with this status: 'pending', 'approved' or 'denied'; leave out for all.",
        },
        returns=[PAYMENT_REQUEST],
    )
    def show_payment_requests(
        self,
        user: dict[str, Any],
        direction: str = "received",
        status: str | None = None,
        page_index: int = 0,
        page_limit: int = 5,
    ) -> list[dict[str, Any]]:
        if direction not in DIRECTIONS:
            raise ApiError(422, f"Invalid direction '{direction}': 'sent' or 'received'.")
        if status is not None and status not in STATUSES:
            raise ApiError(422, f"Invalid status '{status}': 'pending', 'approved' or 'denied'.")
        column = "p.payer_id" if direction == "received" else "p.requester_id"
        rows = self._requests(f"{column} = ?", user["id"])
        if status is not None:
            rows = [r for r in rows if r["status"] == status]
        rows = [self._strip_ids(r, "requester_id", "payer_id") for r in rows]
        return self.page(rows, page_index, page_limit)

    @api(
        "POST",
        "/venmo/payment_requests",
        "Ask another venmo user to pay you an amount.",
        params={
            "user_email": "Email of the user who should pay you.",
            "amount": "Amount requested, greater than 0 (rounded to cents).",
            "description": "A note for the request.",
        },
        returns={"payment_request_id": "integer", "message": "string"},
    )
    def create_payment_request(
        self, user: dict[str, Any], user_email: str, amount: float, description: str = ""
    ) -> dict[str, Any]:
        amount = self._amount(amount)
        payer = self._other(user, user_email)
        request_id = self.execute(
            "INSERT INTO payment_requests (requester_id, payer_id, amount, description, status, created_at, "
            "resolved_at) VALUES (?, ?, ?, ?, 'pending', ?, NULL)",
            user["id"],
            payer["id"],
            amount,
            description,
            self.now(),
        )
        return {"payment_request_id": request_id, "message": f"Requested {amount:.2f} from {payer['email']}."}

    @api(
        "POST",
        "/venmo/payment_requests/{payment_request_id}/approve",
        "Approve a pending payment request made to you: pays the requester from your balance.",
        returns={"transaction_id": "integer", "message": "string"},
    )
    def approve_payment_request(self, user: dict[str, Any], payment_request_id: int) -> dict[str, Any]:
        request = self._pending_request_to_pay(user, payment_request_id)
        requester = self.must(self.user_by("id", request["requester_id"]), "Requester")
        transaction_id = self._transfer(user, requester, round(request["amount"], 2), request["description"], False)
        self.execute(
            "UPDATE payment_requests SET status = 'approved', resolved_at = ? WHERE id = ?",
            self.now(),
            payment_request_id,
        )
        return {
            "transaction_id": transaction_id,
            "message": f"Payment request approved: paid {request['amount']:.2f} to {requester['email']}.",
        }

    @api(
        "POST",
        "/venmo/payment_requests/{payment_request_id}/deny",
        "Deny a pending payment request made to you.",
        returns={"message": "string"},
    )
    def deny_payment_request(self, user: dict[str, Any], payment_request_id: int) -> dict[str, Any]:
        self._pending_request_to_pay(user, payment_request_id)
        self.execute(
            "UPDATE payment_requests SET status = 'denied', resolved_at = ? WHERE id = ?",
            self.now(),
            payment_request_id,
        )
        return {"message": "Payment request denied."}
