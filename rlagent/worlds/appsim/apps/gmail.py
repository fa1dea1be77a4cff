"""The gmail app: your mailbox (inbox, sent, trash)."""

from __future__ import annotations

from rlagent.worlds.appsim.framework import App


class GmailApp(App):
    name = "gmail"
    description = "An email app: read, search, send, reply to, star and delete emails."
    schema = """
    CREATE TABLE users (id INTEGER PRIMARY KEY, first_name TEXT, last_name TEXT, email TEXT UNIQUE,
                        phone_number TEXT, password TEXT);
    CREATE TABLE emails (id INTEGER PRIMARY KEY, owner_id INTEGER, sender TEXT, recipients TEXT, subject TEXT,
                         body TEXT, sent_at TEXT, folder TEXT, is_read INTEGER, is_starred INTEGER);
    """
