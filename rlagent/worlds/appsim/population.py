"""The seeded people and app records of one task's world (the initial databases).

Everything is drawn from one `random.Random(seed)`: the same seed gives the same world, row for
row. Rows are plain dicts keyed by table; `World` loads them into each app's SQLite database.
Task templates may add rows (an email they ask about, a note listing chores) before loading.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

FIRST_NAMES = [
    "Aaron",
    "Abby",
    "Adrian",
    "Alana",
    "Alex",
    "Alice",
    "Amir",
    "Anika",
    "Ben",
    "Bianca",
    "Caleb",
    "Carmen",
    "Chloe",
    "Dario",
    "Dana",
    "Eli",
    "Elena",
    "Emma",
    "Felix",
    "Fiona",
    "Gavin",
    "Grace",
    "Hana",
    "Hugo",
    "Ines",
    "Isaac",
    "Jade",
    "Jonas",
    "Julia",
    "Kai",
    "Kara",
    "Leo",
    "Lena",
    "Liam",
    "Lucia",
    "Maya",
    "Milo",
    "Nadia",
    "Nico",
    "Nora",
    "Omar",
    "Olive",
    "Paul",
    "Priya",
    "Quinn",
    "Rafael",
    "Rosa",
    "Sam",
    "Sara",
    "Theo",
    "Tessa",
    "Uma",
    "Victor",
    "Vera",
    "Wade",
    "Willa",
    "Xavier",
    "Yara",
    "Zane",
    "Zoe",
]
LAST_NAMES = [
    "Abbott",
    "Baker",
    "Castillo",
    "Dunn",
    "Ellis",
    "Foster",
    "Garcia",
    "Hale",
    "Ibarra",
    "Jensen",
    "Keller",
    "Lopez",
    "Meyer",
    "Nash",
    "Ortiz",
    "Park",
    "Quincy",
    "Reyes",
    "Silva",
    "Turner",
    "Underwood",
    "Vance",
    "Walsh",
    "Xu",
    "Young",
    "Zimmer",
    "Brooks",
    "Carter",
    "Diaz",
    "Evans",
    "Fischer",
    "Grant",
]
RELATIONSHIPS = ("friend", "coworker", "family", "roommate", "neighbor")
GENRES = ("pop", "rock", "jazz", "hip hop", "classical", "electronic")
ARTISTS = [
    "The Paper Kites Ensemble",
    "Nova Reyes",
    "Blue Harbor",
    "Lumen Drift",
    "Marta Quill",
    "The Static Pines",
    "Echo Valley",
    "Iris Moon",
    "Cobalt Street",
    "Delta Hours",
    "Juniper Vale",
    "Sable Lane",
]
SONG_WORDS = [
    "midnight",
    "river",
    "golden",
    "echo",
    "paper",
    "summer",
    "neon",
    "quiet",
    "wild",
    "silver",
    "electric",
    "velvet",
    "falling",
    "northern",
    "city",
    "dream",
    "ocean",
    "hollow",
    "lantern",
    "morning",
    "crimson",
    "glass",
    "thunder",
    "gentle",
]
TOPICS = [
    "Quarterly report",
    "Team lunch",
    "Flight itinerary",
    "Book club",
    "Invoice",
    "Weekend plans",
    "Apartment lease",
    "Project kickoff",
    "Gym membership",
    "Birthday party",
    "Car service",
    "Conference tickets",
    "Garden club",
    "Yoga class",
]
NOTE_TITLES = [
    "Grocery list",
    "Packing list",
    "Gift ideas",
    "Recipes to try",
    "Books to read",
    "Workout plan",
    "Travel bucket list",
    "Meeting notes",
    "Movie watchlist",
    "Home repairs",
]
TODO_WORDS = [
    "Call the plumber",
    "Renew passport",
    "Pay electricity bill",
    "Book dentist appointment",
    "Buy birthday gift",
    "Clean the garage",
    "Update resume",
    "Plan team offsite",
    "Water the plants",
    "Return library books",
    "Schedule car service",
    "Send thank-you cards",
    "Back up laptop",
    "Cancel old subscription",
    "Order new headphones",
    "Review pull requests",
    "Prepare slides",
    "Fix leaking tap",
    "Organise closet",
    "Buy groceries",
]
LINK_TABLES = ("friendships", "playlist_songs", "song_likes")
"""Tables keyed by their columns, without an id."""
APPS_WITH_ACCOUNTS = ("phone", "venmo", "spotify", "gmail", "simple_note", "todoist")


@dataclass
class Person:
    id: int
    first_name: str
    last_name: str
    email: str
    phone_number: str
    birthday: str

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass
class WorldData:
    """The initial records of a world, before they are loaded into the apps' databases."""

    seed: int
    now: datetime
    people: list[Person]
    supervisor: Person
    passwords: dict[int, dict[str, str]]
    """person id -> app -> password."""
    tables: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    """app -> table -> rows."""

    def rows(self, app: str, table: str) -> list[dict[str, Any]]:
        return self.tables.setdefault(app, {}).setdefault(table, [])

    def add(self, app: str, table: str, row: dict[str, Any]) -> dict[str, Any]:
        """Append a row, giving it the next id when the table has ids."""
        rows = self.rows(app, table)
        if "id" not in row and table not in LINK_TABLES:
            row = {"id": (max((r["id"] for r in rows), default=0) + 1), **row}
        rows.append(row)
        return row

    def person(self, person_id: int) -> Person:
        return self.people[person_id - 1]

    def contacts(self) -> list[dict[str, Any]]:
        return [c for c in self.rows("phone", "contacts") if c["owner_id"] == self.supervisor.id]


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def _password(rng: random.Random) -> str:
    alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(rng.choice(alphabet) for _ in range(10))


def _people(rng: random.Random, count: int) -> list[Person]:
    names: set[tuple[str, str]] = set()
    firsts: set[str] = set()
    people = []
    while len(people) < count:
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        # first names unique too, so "my friend Nora" names one person
        if (first, last) in names or first in firsts:
            continue
        names.add((first, last))
        firsts.add(first)
        pid = len(people) + 1
        phone = f"{rng.randint(200, 989)}{rng.randint(200, 999)}{rng.randint(1000, 9999)}"
        birthday = f"{rng.randint(1960, 2002)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        people.append(Person(pid, first, last, f"{first.lower()}.{last.lower()}@mail.example", phone, birthday))
    return people


def generate(seed: int, num_people: int = 24) -> WorldData:
    """A whole world from a seed: people, their accounts, and the supervisor's records in every app."""
    rng = random.Random(seed)
    now = datetime(2024, rng.randint(1, 12), rng.randint(1, 28), rng.randint(8, 18), rng.choice((0, 15, 30, 45)))
    people = _people(rng, num_people)
    supervisor = people[0]
    passwords = {p.id: {app: _password(rng) for app in APPS_WITH_ACCOUNTS} for p in people}
    data = WorldData(seed, now, people, supervisor, passwords)
    for person in people:
        for app in APPS_WITH_ACCOUNTS:
            row = {
                "id": person.id,
                "first_name": person.first_name,
                "last_name": person.last_name,
                "email": person.email,
                "phone_number": person.phone_number,
                "password": passwords[person.id][app],
            }
            if app == "phone":
                row["birthday"] = person.birthday
            if app == "venmo":
                row["balance"] = round(rng.uniform(50, 2000), 2)
            data.add(app, "users", row)
    _phone(rng, data)
    _venmo(rng, data)
    _spotify(rng, data)
    _gmail(rng, data)
    _notes(rng, data)
    _todoist(rng, data)
    return data


def _ago(rng: random.Random, now: datetime, max_days: int = 60) -> str:
    return _stamp(now - timedelta(days=rng.randint(0, max_days), minutes=rng.randint(1, 24 * 60)))


def _phone(rng: random.Random, data: WorldData) -> None:
    sup = data.supervisor
    others = data.people[1:]
    known = rng.sample(others, k=min(len(others), 16))
    for i, person in enumerate(known):
        relationship = RELATIONSHIPS[i % len(RELATIONSHIPS)] if i < 10 else rng.choice(RELATIONSHIPS)
        data.add(
            "phone",
            "contacts",
            {
                "owner_id": sup.id,
                "first_name": person.first_name,
                "last_name": person.last_name,
                "phone_number": person.phone_number,
                "email": person.email,
                "relationship": relationship,
                "birthday": person.birthday,
                "created_at": _ago(rng, data.now, 400),
            },
        )
    lines = (
        "Are we still on for tomorrow?",
        "Running 10 minutes late.",
        "Thanks for yesterday!",
        "Can you send me the address?",
        "Call me when you can.",
        "Happy to help.",
        "See you at 7.",
    )
    for _ in range(30):
        person = rng.choice(known)
        outgoing = rng.random() < 0.5
        sender, receiver = (sup, person) if outgoing else (person, sup)
        data.add(
            "phone",
            "text_messages",
            {
                "sender_phone": sender.phone_number,
                "receiver_phone": receiver.phone_number,
                "message": rng.choice(lines),
                "sent_at": _ago(rng, data.now),
            },
        )


def _venmo(rng: random.Random, data: WorldData) -> None:
    sup = data.supervisor
    others = data.people[1:]
    for person in rng.sample(others, k=12):
        data.add("venmo", "friendships", {"user_id": sup.id, "friend_id": person.id})
        data.add("venmo", "friendships", {"user_id": person.id, "friend_id": sup.id})
    notes = ("Dinner", "Rent share", "Concert tickets", "Groceries", "Taxi", "Coffee", "Gift", "Utilities")
    for _ in range(36):
        person = rng.choice(others)
        outgoing = rng.random() < 0.45
        sender, receiver = (sup, person) if outgoing else (person, sup)
        data.add(
            "venmo",
            "transactions",
            {
                "sender_id": sender.id,
                "receiver_id": receiver.id,
                "amount": float(rng.randint(5, 250)),
                "description": rng.choice(notes),
                "created_at": _ago(rng, data.now, 120),
                "private": int(rng.random() < 0.3),
            },
        )
    for _ in range(8):
        person = rng.choice(others)
        incoming = rng.random() < 0.6
        requester, payer = (person, sup) if incoming else (sup, person)
        data.add(
            "venmo",
            "payment_requests",
            {
                "requester_id": requester.id,
                "payer_id": payer.id,
                "amount": float(rng.randint(5, 300)),
                "description": rng.choice(notes),
                "status": "pending" if rng.random() < 0.7 else rng.choice(("approved", "denied")),
                "created_at": _ago(rng, data.now, 30),
                "resolved_at": None,
            },
        )


def _spotify(rng: random.Random, data: WorldData) -> None:
    sup = data.supervisor
    titles: set[str] = set()
    for artist in ARTISTS:
        genre = rng.choice(GENRES)
        for _ in range(rng.randint(4, 7)):
            while True:
                title = f"{rng.choice(SONG_WORDS).title()} {rng.choice(SONG_WORDS).title()}"
                if title not in titles:
                    titles.add(title)
                    break
            data.add(
                "spotify",
                "songs",
                {
                    "title": title,
                    "artist": artist,
                    "album": f"{rng.choice(SONG_WORDS).title()} Sessions",
                    "genre": genre if rng.random() < 0.8 else rng.choice(GENRES),
                    "duration": rng.randint(120, 360),
                    "release_date": f"{rng.randint(2005, 2023)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                    "play_count": rng.randint(1_000, 5_000_000),
                },
            )
    songs = data.rows("spotify", "songs")
    names = rng.sample(("Road Trip", "Focus", "Workout", "Chill Evenings", "Party Mix", "Sunday Morning"), k=4)
    for name in names:
        playlist = data.add(
            "spotify",
            "playlists",
            {
                "owner_id": sup.id,
                "title": name,
                "is_public": int(rng.random() < 0.5),
                "created_at": _ago(rng, data.now, 300),
            },
        )
        for position, song in enumerate(rng.sample(songs, k=rng.randint(5, 14))):
            data.add(
                "spotify",
                "playlist_songs",
                {"playlist_id": playlist["id"], "song_id": song["id"], "position": position},
            )
    for song in rng.sample(songs, k=18):
        data.add(
            "spotify", "song_likes", {"user_id": sup.id, "song_id": song["id"], "created_at": _ago(rng, data.now, 200)}
        )


def _gmail(rng: random.Random, data: WorldData) -> None:
    sup = data.supervisor
    others = data.people[1:]
    for _ in range(24):
        person = rng.choice(others)
        topic = rng.choice(TOPICS)
        data.add(
            "gmail",
            "emails",
            {
                "owner_id": sup.id,
                "sender": person.email,
                "recipients": [sup.email],
                "subject": topic,
                "body": f"Hi {sup.first_name},\n\nA note about {topic.lower()}.\n\n{person.first_name}",
                "sent_at": _ago(rng, data.now, 90),
                "folder": "inbox",
                "is_read": int(rng.random() < 0.6),
                "is_starred": int(rng.random() < 0.15),
            },
        )
    for _ in range(8):
        person = rng.choice(others)
        topic = rng.choice(TOPICS)
        data.add(
            "gmail",
            "emails",
            {
                "owner_id": sup.id,
                "sender": sup.email,
                "recipients": [person.email],
                "subject": f"Re: {topic}",
                "body": f"Thanks {person.first_name}, noted.\n\n{sup.first_name}",
                "sent_at": _ago(rng, data.now, 90),
                "folder": "sent",
                "is_read": 1,
                "is_starred": 0,
            },
        )


def _notes(rng: random.Random, data: WorldData) -> None:
    sup = data.supervisor
    for title in rng.sample(NOTE_TITLES, k=7):
        items = rng.sample(TODO_WORDS, k=rng.randint(2, 5))
        data.add(
            "simple_note",
            "notes",
            {
                "owner_id": sup.id,
                "title": title,
                "content": "\n".join(items),
                "tags": rng.sample(["personal", "work", "home", "ideas", "travel"], k=rng.randint(0, 2)),
                "pinned": int(rng.random() < 0.2),
                "created_at": _ago(rng, data.now, 200),
                "updated_at": _stamp(data.now - timedelta(days=1)),
            },
        )


def _todoist(rng: random.Random, data: WorldData) -> None:
    sup = data.supervisor
    for name in ("Home", "Work", "Errands"):
        project = data.add(
            "todoist", "projects", {"owner_id": sup.id, "name": name, "created_at": _ago(rng, data.now, 300)}
        )
        for title in rng.sample(TODO_WORDS, k=rng.randint(6, 10)):
            completed = int(rng.random() < 0.3)
            due = (data.now + timedelta(days=rng.randint(-10, 20))).strftime("%Y-%m-%d")
            data.add(
                "todoist",
                "tasks",
                {
                    "project_id": project["id"],
                    "owner_id": sup.id,
                    "title": title,
                    "description": "",
                    "due_date": due,
                    "priority": rng.randint(1, 4),
                    "completed": completed,
                    "completed_at": _ago(rng, data.now, 5) if completed else None,
                    "created_at": _ago(rng, data.now, 60),
                },
            )
