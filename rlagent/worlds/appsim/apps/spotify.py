"""The spotify app: a music catalogue, your playlists and liked songs."""

from __future__ import annotations

from typing import Any

from rlagent.worlds.appsim.framework import ApiError, App, api

SONG = {
    "id": "integer",
    "title": "string",
    "artist": "string",
    "album": "string",
    "genre": "string",
    "duration": "integer",
    "release_date": "string",
    "play_count": "integer",
}
PLAYLIST_SONG = {
    "id": "integer",
    "title": "string",
    "artist": "string",
    "album": "string",
    "genre": "string",
    "duration": "integer",
}
PLAYLIST_SUMMARY = {
    "id": "integer",
    "title": "string",
    "is_public": "boolean",
    "created_at": "string",
    "song_count": "integer",
}
PLAYLIST = {
    "id": "integer",
    "title": "string",
    "is_public": "boolean",
    "created_at": "string",
    "songs": [PLAYLIST_SONG],
}


class SpotifyApp(App):
    name = "spotify"
    description = "A music app: search songs, manage your playlists and liked songs."
    schema = """
    CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, first_name TEXT, last_name TEXT, email TEXT UNIQUE,
                        phone_number TEXT, password TEXT);
    CREATE TABLE songs (id INTEGER PRIMARY KEY AUTOINCREMENT,
        title TEXT, artist TEXT, album TEXT, genre TEXT, duration INTEGER,
                        release_date TEXT, play_count INTEGER);
    CREATE TABLE playlists (id INTEGER PRIMARY KEY AUTOINCREMENT, owner_id INTEGER, title TEXT, is_public INTEGER,
                            created_at TEXT);
    CREATE TABLE playlist_songs (playlist_id INTEGER, song_id INTEGER, position INTEGER,
                                 PRIMARY KEY (playlist_id, song_id));
    CREATE TABLE song_likes (user_id INTEGER, song_id INTEGER, created_at TEXT, PRIMARY KEY (user_id, song_id));
    """

    # --- helpers ----------------------------------------------------------------------------
    def _song(self, song_id: int) -> dict[str, Any]:
        return self.must(self.row("SELECT * FROM songs WHERE id = ?", song_id), f"Song {song_id}")

    def _own_playlist(self, user: dict[str, Any], playlist_id: int) -> dict[str, Any]:
        found = self.row("SELECT * FROM playlists WHERE id = ? AND owner_id = ?", playlist_id, user["id"])
        return self.must(found, f"Playlist {playlist_id}")

    def _check_title(self, user: dict[str, Any], title: str, playlist_id: int | None = None) -> str:
        title = title.strip()
        if not title:
            raise ApiError(422, "The playlist title may not be empty.")
        clash = self.row(
            "SELECT id FROM playlists WHERE owner_id = ? AND title = ? AND id != ?", user["id"], title, playlist_id or 0
        )
        if clash:
            raise ApiError(409, f"You already have a playlist titled '{title}' (id {clash['id']}).")
        return title

    def _liked(self, user: dict[str, Any], song_id: int) -> bool:
        return (
            self.row("SELECT 1 AS x FROM song_likes WHERE user_id = ? AND song_id = ?", user["id"], song_id) is not None
        )

    # --- songs ------------------------------------------------------------------------------
    @api(
        "GET",
        "/spotify/songs",
        "Search the song catalogue by title, artist or album, optionally only one artist or genre.",
        params={
            "query": "Text to look for in the song's title, artist or album (case-insensitive); empty matches all.",
            "artist": "Only songs by this artist (exact name, case-insensitive).",
            "genre": "Only songs of this genre (e.g. pop, rock, jazz, hip hop, classical, electronic).",
        },
        returns=[SONG],
    )
    def search_songs(
        self,
        user: dict[str, Any],
        query: str = "",
        artist: str | None = None,
        genre: str | None = None,
        page_index: int = 0,
        page_limit: int = 5,
    ) -> list[dict[str, Any]]:
        rows = self.rows("SELECT * FROM songs ORDER BY id")
        needle = query.lower().strip()
        if needle:
            rows = [r for r in rows if any(needle in str(r[k]).lower() for k in ("title", "artist", "album"))]
        if artist is not None:
            rows = [r for r in rows if r["artist"].lower() == artist.lower().strip()]
        if genre is not None:
            rows = [r for r in rows if r["genre"].lower() == genre.lower().strip()]
        return self.page(rows, page_index, page_limit)

    @api("GET", "/spotify/songs/{song_id}", "Show one song.", returns=SONG)
    def show_song(self, user: dict[str, Any], song_id: int) -> dict[str, Any]:
        return self._song(song_id)

    # --- playlists --------------------------------------------------------------------------
    @api("GET", "/spotify/playlists", "Your playlists, with how many songs each has.", returns=[PLAYLIST_SUMMARY])
    def show_playlist_library(
        self, user: dict[str, Any], page_index: int = 0, page_limit: int = 5
    ) -> list[dict[str, Any]]:
        rows = self.rows(
            "SELECT p.id, p.title, p.is_public, p.created_at, "
            "(SELECT COUNT(*) FROM playlist_songs s WHERE s.playlist_id = p.id) AS song_count "
            "FROM playlists p WHERE p.owner_id = ? ORDER BY p.id",
            user["id"],
        )
        rows = [{**r, "is_public": bool(r["is_public"])} for r in rows]
        return self.page(rows, page_index, page_limit)

    @api(
        "GET",
        "/spotify/playlists/{playlist_id}",
        "Show a playlist and its songs in order: one of yours, or another user's public playlist.",
        returns=PLAYLIST,
    )
    def show_playlist(self, user: dict[str, Any], playlist_id: int) -> dict[str, Any]:
        found = self.must(self.row("SELECT * FROM playlists WHERE id = ?", playlist_id), f"Playlist {playlist_id}")
        if found["owner_id"] != user["id"] and not found["is_public"]:
            raise ApiError(403, f"Playlist {playlist_id} is private to its owner.")
        songs = self.rows(
            "SELECT s.id, s.title, s.artist, s.album, s.genre, s.duration FROM playlist_songs p "
            "JOIN songs s ON s.id = p.song_id WHERE p.playlist_id = ? ORDER BY p.position, s.id",
            playlist_id,
        )
        return {
            "id": found["id"],
            "title": found["title"],
            "is_public": bool(found["is_public"]),
            "created_at": found["created_at"],
            "songs": songs,
        }

    @api(
        "POST",
        "/spotify/playlists",
        "Create an empty playlist.",
        params={
            "title": "The playlist's title; you may not have two playlists with the same title.",
            "is_public": "Whether other users may see the playlist.",
        },
        returns={"playlist_id": "integer", "message": "string"},
    )
    def create_playlist(self, user: dict[str, Any], title: str, is_public: bool = False) -> dict[str, Any]:
        title = self._check_title(user, title)
        playlist_id = self.execute(
            "INSERT INTO playlists (owner_id, title, is_public, created_at) VALUES (?, ?, ?, ?)",
            user["id"],
            title,
            int(is_public),
            self.now(),
        )
        return {"playlist_id": playlist_id, "message": f"Playlist '{title}' created."}

    @api(
        "PATCH",
        "/spotify/playlists/{playlist_id}",
        "Rename a playlist of yours or change whether it is public; fields left out stay as they are.",
        params={"title": "The new title.", "is_public": "Whether other users may see the playlist."},
        returns={"message": "string"},
    )
    def update_playlist(
        self, user: dict[str, Any], playlist_id: int, title: str | None = None, is_public: bool | None = None
    ) -> dict[str, Any]:
        self._own_playlist(user, playlist_id)
        if title is not None:
            title = self._check_title(user, title, playlist_id)
            self.execute("UPDATE playlists SET title = ? WHERE id = ?", title, playlist_id)
        if is_public is not None:
            self.execute("UPDATE playlists SET is_public = ? WHERE id = ?", int(is_public), playlist_id)
        return {"message": "Playlist updated."}

    @api("DELETE", "/spotify/playlists/{playlist_id}", "Delete a playlist of yours.", returns={"message": "string"})
    def delete_playlist(self, user: dict[str, Any], playlist_id: int) -> dict[str, Any]:
        self._own_playlist(user, playlist_id)
        self.execute("DELETE FROM playlist_songs WHERE playlist_id = ?", playlist_id)
        self.execute("DELETE FROM playlists WHERE id = ?", playlist_id)
        return {"message": "Playlist deleted."}

    @api(
        "POST",
        "/spotify/playlists/{playlist_id}/songs",
        "Add a song at the end of a playlist of yours.",
        returns={"message": "string"},
    )
    def add_song_to_playlist(self, user: dict[str, Any], playlist_id: int, song_id: int) -> dict[str, Any]:
        self._own_playlist(user, playlist_id)
        song = self._song(song_id)
        if self.row("SELECT 1 AS x FROM playlist_songs WHERE playlist_id = ? AND song_id = ?", playlist_id, song_id):
            raise ApiError(409, f"Song {song_id} is already in playlist {playlist_id}.")
        last = self.row("SELECT MAX(position) AS last FROM playlist_songs WHERE playlist_id = ?", playlist_id)
        position = 0 if last is None or last["last"] is None else last["last"] + 1
        self.execute(
            "INSERT INTO playlist_songs (playlist_id, song_id, position) VALUES (?, ?, ?)",
            playlist_id,
            song_id,
            position,
        )
        return {"message": f"Song '{song['title']}' added to the playlist."}

    @api(
        "DELETE",
        "/spotify/playlists/{playlist_id}/songs/{song_id}",
        "Remove a song from a playlist of yours.",
        returns={"message": "string"},
    )
    def remove_song_from_playlist(self, user: dict[str, Any], playlist_id: int, song_id: int) -> dict[str, Any]:
        self._own_playlist(user, playlist_id)
        if not self.row(
            "SELECT 1 AS x FROM playlist_songs WHERE playlist_id = ? AND song_id = ?", playlist_id, song_id
        ):
            raise ApiError(404, f"Song {song_id} is not in playlist {playlist_id}.")
        self.execute("DELETE FROM playlist_songs WHERE playlist_id = ? AND song_id = ?", playlist_id, song_id)
        return {"message": "Song removed from the playlist."}

    # --- likes ------------------------------------------------------------------------------
    @api(
        "GET",
        "/spotify/liked_songs",
        "Songs you liked, most recently liked first.",
        returns=[{**SONG, "liked_at": "string"}],
    )
    def show_liked_songs(self, user: dict[str, Any], page_index: int = 0, page_limit: int = 5) -> list[dict[str, Any]]:
        rows = self.rows(
            "SELECT s.*, l.created_at AS liked_at FROM song_likes l JOIN songs s ON s.id = l.song_id "
            "WHERE l.user_id = ? ORDER BY l.created_at DESC, s.id DESC",
            user["id"],
        )
        return self.page(rows, page_index, page_limit)

    @api("POST", "/spotify/liked_songs/{song_id}", "Like a song.", returns={"message": "string"})
    def like_song(self, user: dict[str, Any], song_id: int) -> dict[str, Any]:
        song = self._song(song_id)
        if self._liked(user, song_id):
            raise ApiError(409, f"You already like song {song_id}.")
        self.execute(
            "INSERT INTO song_likes (user_id, song_id, created_at) VALUES (?, ?, ?)", user["id"], song_id, self.now()
        )
        return {"message": f"Liked '{song['title']}'."}

    @api("DELETE", "/spotify/liked_songs/{song_id}", "Unlike a song you liked.", returns={"message": "string"})
    def unlike_song(self, user: dict[str, Any], song_id: int) -> dict[str, Any]:
        song = self._song(song_id)
        if not self._liked(user, song_id):
            raise ApiError(409, f"You do not like song {song_id}.")
        self.execute("DELETE FROM song_likes WHERE user_id = ? AND song_id = ?", user["id"], song_id)
        return {"message": f"Unliked '{song['title']}'."}
