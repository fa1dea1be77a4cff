"""The simple_note app: notes with titles, content, tags and pins."""

from __future__ import annotations

from rlagent.worlds.appsim.framework import App


class SimpleNoteApp(App):
    name = "simple_note"
    description = "A notes app: search, read, create, edit, tag, pin and delete notes."
    schema = """
    CREATE TABLE users (id INTEGER PRIMARY KEY, first_name TEXT, last_name TEXT, email TEXT UNIQUE,
                        phone_number TEXT, password TEXT);
    CREATE TABLE notes (id INTEGER PRIMARY KEY, owner_id INTEGER, title TEXT, content TEXT, tags TEXT,
                        pinned INTEGER, created_at TEXT, updated_at TEXT);
    """
