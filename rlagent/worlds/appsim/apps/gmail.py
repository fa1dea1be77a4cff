"""The gmail app: your mailbox (inbox, sent, trash)."""

from __future__ import annotations

import json
from typing import Any

from rlagent.worlds.appsim.framework import ApiError, App, api

EMAIL = {
    "id": "integer",
    "sender": "string",
    "recipients": ["string"],
    "subject": "string",
    "body": "string",
    "sent_at": "string",
    "folder": "string",
    "is_read": "boolean",
    "is_starred": "boolean",
}
FOLDERS = ("inbox", "sent", "trash")
SENT = {"email_id": "integer", "message": "string"}


class GmailApp(App):
    name = "gmail"
    description = "An email app: read, search, send, reply to, star and delete emails."
    schema = """
    CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, first_name TEXT, last_name TEXT, email TEXT UNIQUE,
                        phone_number TEXT, password TEXT);
    CREATE TABLE emails (id INTEGER PRIMARY KEY AUTOINCREMENT,
        owner_id INTEGER, sender TEXT, recipients TEXT, subject TEXT,
                         body TEXT, sent_at TEXT, folder TEXT, is_read INTEGER, is_starred INTEGER);
    """

    # --- helpers ----------------------------------------------------------------------------
    @staticmethod
    def _out(record: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": record["id"],
            "sender": record["sender"],
            "recipients": json.loads(record["recipients"] or "[]"),
            "subject": record["subject"],
            "body": record["body"],
            "sent_at": record["sent_at"],
            "folder": record["folder"],
            "is_read": bool(record["is_read"]),
            "is_starred": bool(record["is_starred"]),
        }

    def _own(self, user: dict[str, Any], email_id: int) -> dict[str, Any]:
        found = self.row("SELECT * FROM emails WHERE id = ? AND owner_id = ?", email_id, user["id"])
        return self.must(found, f"Email {email_id}")

    def _mine(self, user: dict[str, Any], folder: str | None = None) -> list[dict[str, Any]]:
        if folder is None:
            rows = self.rows(
                "SELECT * FROM emails WHERE owner_id = ? AND folder != 'trash' ORDER BY sent_at DESC, id DESC",
                user["id"],
            )
        else:
            rows = self.rows(
                "SELECT * FROM emails WHERE owner_id = ? AND folder = ? ORDER BY sent_at DESC, id DESC",
                user["id"],
                folder,
            )
        return [self._out(r) for r in rows]

    @staticmethod
    def _matches(email: dict[str, Any], query: str) -> bool:
        needle = query.lower().strip()
        return not needle or needle in email["subject"].lower() or needle in email["body"].lower()

    def _send(self, user: dict[str, Any], recipients: list[str], subject: str, body: str) -> int:
        addresses: list[str] = []
        for address in recipients:
            address = str(address).strip()
            if "@" not in address or address.startswith("@") or address.endswith("@"):
                raise ApiError(422, f"Invalid email address '{address}'.")
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise ApiError(422, "At least one recipient is required.")
        now, listed = self.now(), json.dumps(addresses)
        insert = (
            "INSERT INTO emails (owner_id, sender, recipients, subject, body, sent_at, folder, is_read, "
            "is_starred) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)"
        )
        email_id = self.execute(insert, user["id"], user["email"], listed, subject, body, now, "sent", 1)
        for address in addresses:
            recipient = self.row("SELECT id FROM users WHERE lower(email) = ?", address.lower())
            if recipient is not None:
                self.execute(insert, recipient["id"], user["email"], listed, subject, body, now, "inbox", 0)
        return email_id

    # --- reading ----------------------------------------------------------------------------
    @api(
        "GET",
        "/gmail/inbox",
        "Emails in your inbox, newest first, optionally filtered by text, sender or read state.",
        params={
            "query": "Text to look for in the subject or body (case-insensitive); empty matches all.",
            "sender": "Only emails from this email address.",
            "is_read": "Only read (true) or unread (false) emails; leave out for both.",
        },
        returns=[EMAIL],
    )
    def show_inbox(
        self,
        user: dict[str, Any],
        query: str = "",
        sender: str | None = None,
        is_read: bool | None = None,
        page_index: int = 0,
        page_limit: int = 5,
    ) -> list[dict[str, Any]]:
        rows = [r for r in self._mine(user, "inbox") if self._matches(r, query)]
        if sender is not None:
            rows = [r for r in rows if r["sender"].lower() == sender.lower().strip()]
        if is_read is not None:
            rows = [r for r in rows if r["is_read"] == is_read]
        return self.page(rows, page_index, page_limit)

    @api("GET", "/gmail/sent", "Emails you sent, newest first.", returns=[EMAIL])
    def show_sent_emails(self, user: dict[str, Any], page_index: int = 0, page_limit: int = 5) -> list[dict[str, Any]]:
        return self.page(self._mine(user, "sent"), page_index, page_limit)

    @api(
        "GET",
        "/gmail/emails",
        "Search your emails' subject, body, sender and recipients, newest first.",
        params={
            "query": "Text to look for (case-insensitive).",
            "folder": "Only this folder: 'inbox', 'sent' or 'trash'; leave out for inbox and sent.",
        },
        returns=[EMAIL],
    )
    def search_emails(
        self, user: dict[str, Any], query: str, folder: str | None = None, page_index: int = 0, page_limit: int = 5
    ) -> list[dict[str, Any]]:
        if folder is not None and folder not in FOLDERS:
            raise ApiError(422, f"Invalid folder '{folder}': 'inbox', 'sent' or 'trash'.")
        needle = query.lower().strip()
        rows = [
            r
            for r in self._mine(user, folder)
            if self._matches(r, needle)
            or needle in r["sender"].lower()
            or any(needle in a.lower() for a in r["recipients"])
        ]
        return self.page(rows, page_index, page_limit)

    @api("GET", "/gmail/emails/{email_id}", "Show one of your emails (this does not mark it read).", returns=EMAIL)
    def show_email(self, user: dict[str, Any], email_id: int) -> dict[str, Any]:
        return self._out(self._own(user, email_id))

    # --- sending ----------------------------------------------------------------------------
    @api(
        "POST",
        "/gmail/emails",
        "Send an email.",
        params={
            "recipients": "Email addresses to send to.",
            "subject": "The subject line.",
            "body": "The text of the email.",
        },
        returns=SENT,
    )
    def send_email(self, user: dict[str, Any], recipients: list[str], subject: str, body: str) -> dict[str, Any]:
        email_id = self._send(user, recipients, subject, body)
        return {"email_id": email_id, "message": "Email sent."}

    @api(
        "POST",
        "/gmail/emails/{email_id}/reply",
        "Reply to an email's sender (to its recipients when you sent it), with subject 'Re: <subject>'.",
        params={"body": "The text of the reply."},
        returns=SENT,
    )
    def reply_to_email(self, user: dict[str, Any], email_id: int, body: str) -> dict[str, Any]:
        original = self._out(self._own(user, email_id))
        to = [original["sender"]]
        if original["sender"].lower() == user["email"].lower():
            to = [a for a in original["recipients"] if a.lower() != user["email"].lower()] or to
        subject = original["subject"]
        if not subject.lower().startswith("re:"):
            subject = f"Re: {subject}"
        reply_id = self._send(user, to, subject, body)
        return {"email_id": reply_id, "message": f"Reply sent to {', '.join(to)}."}

    @api(
        "POST",
        "/gmail/emails/{email_id}/forward",
        "Forward an email to other addresses, with subject 'Fwd: <subject>' and the original body.",
        params={"recipients": "Email addresses to forward to."},
        returns=SENT,
    )
    def forward_email(self, user: dict[str, Any], email_id: int, recipients: list[str]) -> dict[str, Any]:
        original = self._own(user, email_id)
        subject = original["subject"]
        if not subject.lower().startswith("fwd:"):
            subject = f"Fwd: {subject}"
        forward_id = self._send(user, recipients, subject, original["body"])
        return {"email_id": forward_id, "message": "Email forwarded."}

    # --- flags and folders ------------------------------------------------------------------
    @api(
        "PATCH",
        "/gmail/emails/{email_id}/read",
        "Mark one of your emails read (or unread).",
        params={"is_read": "true to mark read, false to mark unread."},
        returns={"message": "string"},
    )
    def mark_email_read(self, user: dict[str, Any], email_id: int, is_read: bool = True) -> dict[str, Any]:
        self._own(user, email_id)
        self.execute("UPDATE emails SET is_read = ? WHERE id = ?", int(is_read), email_id)
        return {"message": f"Email marked {'read' if is_read else 'unread'}."}

    @api(
        "PATCH",
        "/gmail/emails/{email_id}/star",
        "Star (or unstar) one of your emails.",
        params={"is_starred": "true to star, false to unstar."},
        returns={"message": "string"},
    )
    def star_email(self, user: dict[str, Any], email_id: int, is_starred: bool = True) -> dict[str, Any]:
        self._own(user, email_id)
        self.execute("UPDATE emails SET is_starred = ? WHERE id = ?", int(is_starred), email_id)
        return {"message": f"Email {'starred' if is_starred else 'unstarred'}."}

    @api("DELETE", "/gmail/emails/{email_id}", "Move one of your emails to the trash.", returns={"message": "string"})
    def delete_email(self, user: dict[str, Any], email_id: int) -> dict[str, Any]:
        found = self._own(user, email_id)
        if found["folder"] == "trash":
            raise ApiError(409, f"Email {email_id} is already in the trash.")
        self.execute("UPDATE emails SET folder = 'trash' WHERE id = ?", email_id)
        return {"message": "Email moved to the trash."}
