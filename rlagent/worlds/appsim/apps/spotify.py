"""The spotify app: a music catalogue, your playlists and liked songs."""

from __future__ import annotations

from rlagent.worlds.appsim.framework import App


class SpotifyApp(App):
    name = "spotify"
    description = "A music app: search songs, manage your playlists and liked songs."
    schema = """
    CREATE TABLE users (id INTEGER PRIMARY KEY, first_name TEXT, last_name TEXT, email TEXT UNIQUE,
                        phone_number TEXT, password TEXT);
    CREATE TABLE songs (id INTEGER PRIMARY KEY, title TEXT, artist TEXT, album TEXT, genre TEXT, duration INTEGER,
                        release_date TEXT, play_count INTEGER);
    CREATE TABLE playlists (id INTEGER PRIMARY KEY, owner_id INTEGER, title TEXT, is_public INTEGER,
                            created_at TEXT);
    CREATE TABLE playlist_songs (playlist_id INTEGER, song_id INTEGER, position INTEGER,
                                 PRIMARY KEY (playlist_id, song_id));
    CREATE TABLE song_likes (user_id INTEGER, song_id INTEGER, created_at TEXT, PRIMARY KEY (user_id, song_id));
    """
