"""The simple_note app: notes with titles, content, tags and pins."""

from __future__ import annotations

import json
from typing import Any

from rlagent.worlds.appsim.framework import ApiError, App, api

NOTE = {
    "id": "integer",
    "title": "string",
    "content": "string",
    "tags": ["string"],
    "pinned": "boolean",
    "created_at": "string",
    "updated_at": "string",
}
MESSAGE = {"message": "string"}


class SimpleNoteApp(App):
    name = "simple_note"
    description = "A notes app: search, read, create, edit, tag, pin and delete notes."
    schema = """
    CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, first_name TEXT, last_name TEXT, email TEXT UNIQUE,
                        phone_number TEXT, password TEXT);
    CREATE TABLE notes (id INTEGER PRIMARY KEY AUTOINCREMENT, owner_id INTEGER, title TEXT, content TEXT, tags TEXT,
                        pinned INTEGER, created_at TEXT, updated_at TEXT);
    """

    # --- helpers ----------------------------------------------------------------------------
    @staticmethod
    def _out(record: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": record["id"],
            "title": record["title"],
            "content": record["content"],
            "tags": json.loads(record["tags"] or "[]"),
            "pinned": bool(record["pinned"]),
            "created_at": record["created_at"],
            "updated_at": record["updated_at"],
        }

    def _own(self, user: dict[str, Any], note_id: int) -> dict[str, Any]:
        found = self.row("SELECT * FROM notes WHERE id = ? AND owner_id = ?", note_id, user["id"])
        return self._out(self.must(found, f"Note {note_id}"))

    @staticmethod
    def _tag(tag: str) -> str:
        tag = tag.strip()
        if not tag:
            raise ApiError(422, "The tag may not be empty.")
        return tag

    def _set_tags(self, note_id: int, tags: list[str]) -> None:
        self.execute("UPDATE notes SET tags = ?, updated_at = ? WHERE id = ?", json.dumps(tags), self.now(), note_id)

    # --- reading ----------------------------------------------------------------------------
    @api(
        "GET",
        "/simple_note/notes",
        "Search your notes by text in the title or content, optionally by tag or pin; "
        "pinned notes first, then the most recently updated.",
        params={
            "query": "Text to look for in the title or content (case-insensitive); empty matches all.",
            "tag": "Only notes with this tag.",
            "pinned": "Only pinned (true) or unpinned (false) notes; leave out for both.",
        },
        returns=[NOTE],
    )
    def search_notes(
        self,
        user: dict[str, Any],
        query: str = "",
        tag: str | None = None,
        pinned: bool | None = None,
        page_index: int = 0,
        page_limit: int = 5,
    ) -> list[dict[str, Any]]:
        rows = self.rows(
            "SELECT * FROM notes WHERE owner_id = ? ORDER BY pinned DESC, updated_at DESC, id DESC", user["id"]
        )
        notes = [self._out(r) for r in rows]
        needle = query.lower().strip()
        if needle:
            notes = [n for n in notes if needle in n["title"].lower() or needle in n["content"].lower()]
        if tag is not None:
            notes = [n for n in notes if tag.lower().strip() in (t.lower() for t in n["tags"])]
        if pinned is not None:
            notes = [n for n in notes if n["pinned"] == pinned]
        return self.page(notes, page_index, page_limit)

    @api("GET", "/simple_note/notes/{note_id}", "Show one of your notes.", returns=NOTE)
    def show_note(self, user: dict[str, Any], note_id: int) -> dict[str, Any]:
        return self._own(user, note_id)

    @api("GET", "/simple_note/tags", "Every tag used in your notes, sorted.", returns=["string"])
    def show_tags(self, user: dict[str, Any]) -> list[str]:
        rows = self.rows("SELECT tags FROM notes WHERE owner_id = ?", user["id"])
        return sorted({t for r in rows for t in json.loads(r["tags"] or "[]")})

    # --- writing ----------------------------------------------------------------------------
    @api(
        "POST",
        "/simple_note/notes",
        "Create a note.",
        params={
            "title": "The note's title.",
            "content": "The note's text.",
            "tags": "Tags for the note.",
            "pinned": "Whether to pin the note.",
        },
        returns={"note_id": "integer", "message": "string"},
    )
    def create_note(
        self, user: dict[str, Any], title: str, content: str = "", tags: list[str] | None = None, pinned: bool = False
    ) -> dict[str, Any]:
        if not title.strip():
            raise ApiError(422, "The note title may not be empty.")
        unique: list[str] = []
        for tag in tags or []:
            tag = self._tag(str(tag))
            if tag.lower() not in (t.lower() for t in unique):
                unique.append(tag)
        now = self.now()
        note_id = self.execute(
            "INSERT INTO notes (owner_id, title, content, tags, pinned, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            user["id"],
            title.strip(),
            content,
            json.dumps(unique),
            int(pinned),
            now,
            now,
        )
        return {"note_id": note_id, "message": "Note created."}

    @api(
        "PATCH",
        "/simple_note/notes/{note_id}",
        "Replace a note's title and/or content; fields left out stay as they are.",
        params={"title": "The new title.", "content": "The new content (replaces the whole text)."},
        returns=MESSAGE,
    )
    def update_note(
        self, user: dict[str, Any], note_id: int, title: str | None = None, content: str | None = None
    ) -> dict[str, Any]:
        self._own(user, note_id)
        if title is not None and not title.strip():
            raise ApiError(422, "The note title may not be empty.")
        if title is not None:
            self.execute("UPDATE notes SET title = ? WHERE id = ?", title.strip(), note_id)
        if content is not None:
            self.execute("UPDATE notes SET content = ? WHERE id = ?", content, note_id)
        if title is not None or content is not None:
            self.execute("UPDATE notes SET updated_at = ? WHERE id = ?", self.now(), note_id)
        return {"message": "Note updated."}

    @api(
        "POST",
        "/simple_note/notes/{note_id}/append",
        "Add text as a new line at the end of a note.",
        params={"content": "The text to add on a new line."},
        returns=MESSAGE,
    )
    def append_to_note(self, user: dict[str, Any], note_id: int, content: str) -> dict[str, Any]:
        note = self._own(user, note_id)
        text = f"{note['content']}\n{content}" if note["content"] else content
        self.execute("UPDATE notes SET content = ?, updated_at = ? WHERE id = ?", text, self.now(), note_id)
        return {"message": "Text appended to the note."}

    @api("DELETE", "/simple_note/notes/{note_id}", "Delete one of your notes.", returns=MESSAGE)
    def delete_note(self, user: dict[str, Any], note_id: int) -> dict[str, Any]:
        self._own(user, note_id)
        self.execute("DELETE FROM notes WHERE id = ?", note_id)
        return {"message": "Note deleted."}

    @api(
        "PATCH",
        "/simple_note/notes/{note_id}/pin",
        "Pin (or unpin) a note; pinned notes are listed first.",
        params={"pinned": "true to pin, false to unpin."},
        returns=MESSAGE,
    )
    def pin_note(self, user: dict[str, Any], note_id: int, pinned: bool = True) -> dict[str, Any]:
        self._own(user, note_id)
        self.execute("UPDATE notes SET pinned = ? WHERE id = ?", int(pinned), note_id)
        return {"message": f"Note {'pinned' if pinned else 'unpinned'}."}

    @api(
        "POST",
        "/simple_note/notes/{note_id}/tags",
        "Add a tag to a note.",
        params={"tag": "The tag to add."},
        returns=MESSAGE,
    )
    def add_tag(self, user: dict[str, Any], note_id: int, tag: str) -> dict[str, Any]:
        note = self._own(user, note_id)
        tag = self._tag(tag)
        if tag.lower() in (t.lower() for t in note["tags"]):
            raise ApiError(409, f"Note {note_id} already has the tag '{tag}'.")
        self._set_tags(note_id, [*note["tags"], tag])
        return {"message": f"Tag '{tag}' added."}

    @api(
        "DELETE",
        "/simple_note/notes/{note_id}/tags/{tag}",
        "Remove a tag from a note.",
        params={"tag": "The tag to remove."},
        returns=MESSAGE,
    )
    def remove_tag(self, user: dict[str, Any], note_id: int, tag: str) -> dict[str, Any]:
        note = self._own(user, note_id)
        tag = self._tag(tag)
        kept = [t for t in note["tags"] if t.lower() != tag.lower()]
        if len(kept) == len(note["tags"]):
            raise ApiError(404, f"Note {note_id} has no tag '{tag}'.")
        self._set_tags(note_id, kept)
        return {"message": f"Tag '{tag}' removed."}
