"""The phone app: the supervisor's contacts and text messages. Username: the phone number."""

from __future__ import annotations

from typing import Any

from rlagent.worlds.appsim.framework import ApiError, App, api

CONTACT = {
    "id": "integer",
    "first_name": "string",
    "last_name": "string",
    "phone_number": "string",
    "email": "string",
    "relationship": "string",
    "birthday": "string",
    "created_at": "string",
}
MESSAGE = {
    "id": "integer",
    "sender_phone": "string",
    "receiver_phone": "string",
    "message": "string",
    "sent_at": "string",
}


class PhoneApp(App):
    name = "phone"
    description = "Your phone: contacts (with their relationship to you and birthdays) and text messages."
    username_field = "phone_number"
    schema = """
    CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, first_name TEXT, last_name TEXT, email TEXT,
                        phone_number TEXT UNIQUE, password TEXT, birthday TEXT);
    CREATE TABLE contacts (id INTEGER PRIMARY KEY AUTOINCREMENT, owner_id INTEGER, first_name TEXT, last_name TEXT,
                           phone_number TEXT, email TEXT, relationship TEXT, birthday TEXT, created_at TEXT);
    CREATE TABLE text_messages (id INTEGER PRIMARY KEY AUTOINCREMENT,
        sender_phone TEXT, receiver_phone TEXT, message TEXT,
                                sent_at TEXT);
    """

    def _contact(self, user: dict[str, Any], contact_id: int) -> dict[str, Any]:
        found = self.row("SELECT * FROM contacts WHERE id = ? AND owner_id = ?", contact_id, user["id"])
        return self.must(found, f"Contact {contact_id}")

    @api(
        "GET",
        "/phone/contacts",
        "Search your contacts by name, phone number or email, optionally by relationship.",
        params={
            "query": "Text to look for in the contact's name, phone number or email; empty matches all.",
            "relationship": "Only contacts with this relationship (friend, coworker, family, roommate, neighbor).",
        },
        returns=[CONTACT],
    )
    def search_contacts(
        self,
        user: dict[str, Any],
        query: str = "",
        relationship: str | None = None,
        page_index: int = 0,
        page_limit: int = 5,
    ) -> list[dict[str, Any]]:
        rows = self.rows("SELECT * FROM contacts WHERE owner_id = ? ORDER BY first_name, last_name, id", user["id"])
        needle = query.lower().strip()
        if needle:
            rows = [
                r
                for r in rows
                if any(needle in str(r[k]).lower() for k in ("first_name", "last_name", "phone_number", "email"))
                or needle in f"{r['first_name']} {r['last_name']}".lower()
            ]
        if relationship:
            rows = [r for r in rows if r["relationship"] == relationship.lower().strip()]
        return self.page(rows, page_index, page_limit)

    @api("GET", "/phone/contacts/{contact_id}", "Show one contact.", returns=CONTACT)
    def show_contact(self, user: dict[str, Any], contact_id: int) -> dict[str, Any]:
        return self._contact(user, contact_id)

    @api("GET", "/phone/contact_relationships", "The relationships contacts may have.", returns=["string"])
    def show_contact_relationships(self, user: dict[str, Any]) -> list[str]:
        return ["friend", "coworker", "family", "roommate", "neighbor"]

    @api(
        "POST",
        "/phone/contacts",
        "Add a contact.",
        returns={"contact_id": "integer", "message": "string"},
        params={"birthday": "Birthday as YYYY-MM-DD."},
    )
    def add_contact(
        self,
        user: dict[str, Any],
        first_name: str,
        last_name: str,
        phone_number: str,
        email: str = "",
        relationship: str = "friend",
        birthday: str | None = None,
    ) -> dict[str, Any]:
        if relationship not in self.show_contact_relationships(user):
            raise ApiError(422, f"Invalid relationship '{relationship}'.")
        if self.row("SELECT id FROM contacts WHERE owner_id = ? AND phone_number = ?", user["id"], phone_number):
            raise ApiError(409, f"A contact with phone number {phone_number} already exists.")
        contact_id = self.execute(
            "INSERT INTO contacts (owner_id, first_name, last_name, phone_number, email, relationship, birthday, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            user["id"],
            first_name,
            last_name,
            phone_number,
            email,
            relationship,
            birthday,
            self.now(),
        )
        return {"contact_id": contact_id, "message": "Contact added."}

    @api(
        "PATCH",
        "/phone/contacts/{contact_id}",
        "Update fields of a contact; fields left out stay as they are.",
        returns={"message": "string"},
    )
    def update_contact(
        self,
        user: dict[str, Any],
        contact_id: int,
        first_name: str | None = None,
        last_name: str | None = None,
        phone_number: str | None = None,
        email: str | None = None,
        relationship: str | None = None,
        birthday: str | None = None,
    ) -> dict[str, Any]:
        self._contact(user, contact_id)
        changes = {
            k: v
            for k, v in {
                "first_name": first_name,
                "last_name": last_name,
                "phone_number": phone_number,
                "email": email,
                "relationship": relationship,
                "birthday": birthday,
            }.items()
            if v is not None
        }
        if relationship is not None and relationship not in self.show_contact_relationships(user):
            raise ApiError(422, f"Invalid relationship '{relationship}'.")
        for key, value in changes.items():
            self.execute(f"UPDATE contacts SET {key} = ? WHERE id = ?", value, contact_id)
        return {"message": "Contact updated."}

    @api("DELETE", "/phone/contacts/{contact_id}", "Delete a contact.", returns={"message": "string"})
    def delete_contact(self, user: dict[str, Any], contact_id: int) -> dict[str, Any]:
        self._contact(user, contact_id)
        self.execute("DELETE FROM contacts WHERE id = ?", contact_id)
        return {"message": "Contact deleted."}

    @api(
        "GET",
        "/phone/messages",
        "Your text messages, newest first; optionally only those exchanged with one "
        "phone number, or containing some text.",
        params={
            "phone_number": "Only messages sent to or received from this number.",
            "query": "Text the message must contain; empty matches all.",
        },
        returns=[MESSAGE],
    )
    def search_text_messages(
        self,
        user: dict[str, Any],
        phone_number: str | None = None,
        query: str = "",
        page_index: int = 0,
        page_limit: int = 5,
    ) -> list[dict[str, Any]]:
        mine = user["phone_number"]
        rows = self.rows(
            "SELECT * FROM text_messages WHERE sender_phone = ? OR receiver_phone = ? ORDER BY sent_at DESC, id DESC",
            mine,
            mine,
        )
        if phone_number:
            rows = [r for r in rows if phone_number in (r["sender_phone"], r["receiver_phone"])]
        if query:
            rows = [r for r in rows if query.lower() in r["message"].lower()]
        return self.page(rows, page_index, page_limit)

    @api("GET", "/phone/messages/{text_message_id}", "Show one text message.", returns=MESSAGE)
    def show_text_message(self, user: dict[str, Any], text_message_id: int) -> dict[str, Any]:
        found = self.row("SELECT * FROM text_messages WHERE id = ?", text_message_id)
        if found is None or user["phone_number"] not in (found["sender_phone"], found["receiver_phone"]):
            raise ApiError(404, f"Text message {text_message_id} not found.")
        return found

    @api(
        "POST",
        "/phone/messages",
        "Send a text message to a phone number.",
        returns={"text_message_id": "integer", "message": "string"},
    )
    def send_text_message(self, user: dict[str, Any], phone_number: str, message: str) -> dict[str, Any]:
        if not message.strip():
            raise ApiError(422, "The message may not be empty.")
        if not phone_number.isdigit() or len(phone_number) != 10:
            raise ApiError(422, f"Invalid phone number '{phone_number}': 10 digits expected.")
        message_id = self.execute(
            "INSERT INTO text_messages (sender_phone, receiver_phone, message, sent_at) VALUES (?, ?, ?, ?)",
            user["phone_number"],
            phone_number,
            message,
            self.now(),
        )
        return {"text_message_id": message_id, "message": "Text message sent."}

    @api("DELETE", "/phone/messages/{text_message_id}", "Delete a text message.", returns={"message": "string"})
    def delete_text_message(self, user: dict[str, Any], text_message_id: int) -> dict[str, Any]:
        self.show_text_message(user, text_message_id)
        self.execute("DELETE FROM text_messages WHERE id = ?", text_message_id)
        return {"message": "Text message deleted."}
