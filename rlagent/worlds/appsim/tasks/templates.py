"""Task templates: each turns a seeded world into one concrete task (instruction, tests, oracle).

Difficulty 1: one app, a lookup. 2: a write, or a lookup across pages or two apps. 3: several
apps, loops over paginated lists, writes. Templates marked `challenge` appear only in the
`test_challenge` split, so that split measures generalisation to unseen task types.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from rlagent.worlds.appsim.population import TODO_WORDS, WorldData
from rlagent.worlds.appsim.tasks.checks import (
    Instance,
    Outcome,
    Test,
    answer_test,
    collateral_test,
    no_deletions_test,
    same_text,
)
from rlagent.worlds.appsim.tasks.oracle import login, program

Builder = Callable[[random.Random, WorldData], Instance]


@dataclass(frozen=True)
class Template:
    name: str
    difficulty: int
    apps: tuple[str, ...]
    challenge: bool
    build: Builder


TEMPLATES: dict[str, Template] = {}


def template(
    name: str, difficulty: int, apps: tuple[str, ...], challenge: bool = False
) -> Callable[[Builder], Builder]:
    def register(build: Builder) -> Builder:
        TEMPLATES[name] = Template(name, difficulty, apps, challenge, build)
        return build

    return register


def question(instruction: str, answer: object, oracle: str) -> Instance:
    return Instance(instruction, [answer_test(answer), collateral_test(set())], oracle, set(), answer)


def action(instruction: str, tests: list[Test], oracle: str, tables: set[str]) -> Instance:
    # No separate "marked complete" test: it would pay partial credit for calling complete_task() and nothing
    # else. Question tasks need complete_task(answer=...) through their answer test.
    checks = [*tests, collateral_test(tables), no_deletions_test(tables)]
    return Instance(instruction, checks, oracle, tables)


# --- difficulty 1 -------------------------------------------------------------------------------
@template("phone_contact_number", 1, ("phone",))
def phone_contact_number(rng: random.Random, data: WorldData) -> Instance:
    contact = rng.choice(data.contacts())
    name = f"{contact['first_name']} {contact['last_name']}"
    oracle = program(
        login("phone"),
        f"found = apis.phone.search_contacts(access_token=phone_token, query={name!r})\n",
        'apis.supervisor.complete_task(answer=found[0]["phone_number"])\n',
    )
    return question(
        f"What is the phone number of {name}, who is in my phone contacts?", contact["phone_number"], oracle
    )


@template("venmo_balance", 1, ("venmo",))
def venmo_balance(rng: random.Random, data: WorldData) -> Instance:
    balance = next(u["balance"] for u in data.rows("venmo", "users") if u["id"] == data.supervisor.id)
    oracle = program(
        login("venmo"),
        'apis.supervisor.complete_task(answer=apis.venmo.show_balance(access_token=venmo_token)["balance"])\n',
    )
    return question("How much money do I have in my Venmo balance?", balance, oracle)


@template("spotify_playlist_size", 1, ("spotify",))
def spotify_playlist_size(rng: random.Random, data: WorldData) -> Instance:
    playlist = rng.choice(data.rows("spotify", "playlists"))
    count = sum(1 for r in data.rows("spotify", "playlist_songs") if r["playlist_id"] == playlist["id"])
    oracle = program(
        login("spotify"),
        "library = every_page(apis.spotify.show_playlist_library, access_token=spotify_token)\n",
        f"playlist = next(p for p in library if p['title'] == {playlist['title']!r})\n",
        "songs = apis.spotify.show_playlist(access_token=spotify_token, playlist_id=playlist['id'])['songs']\n",
        "apis.supervisor.complete_task(answer=len(songs))\n",
    )
    return question(f'How many songs are in my Spotify playlist "{playlist["title"]}"?', count, oracle)


@template("todoist_open_count", 1, ("todoist",))
def todoist_open_count(rng: random.Random, data: WorldData) -> Instance:
    project = rng.choice(data.rows("todoist", "projects"))
    count = sum(1 for t in data.rows("todoist", "tasks") if t["project_id"] == project["id"] and not t["completed"])
    oracle = program(
        login("todoist"),
        "projects = every_page(apis.todoist.show_projects, access_token=todoist_token)\n",
        f"project = next(p for p in projects if p['name'] == {project['name']!r})\n",
        "tasks = every_page(apis.todoist.search_tasks, access_token=todoist_token, project_id=project['id'], "
        "completed=False)\n",
        "apis.supervisor.complete_task(answer=len(tasks))\n",
    )
    return question(f'How many tasks in my Todoist project "{project["name"]}" are not completed yet?', count, oracle)


# --- difficulty 2 -------------------------------------------------------------------------------
@template("gmail_unread_from", 2, ("gmail",))
def gmail_unread_from(rng: random.Random, data: WorldData) -> Instance:
    sup = data.supervisor
    person = rng.choice(data.people[1:])
    for _ in range(rng.randint(1, 3)):
        topic = rng.choice(("Quick question", "Catching up", "Photos from the trip", "Schedule for next week"))
        data.add(
            "gmail",
            "emails",
            {
                "owner_id": sup.id,
                "sender": person.email,
                "recipients": [sup.email],
                "subject": topic,
                "body": f"Hi {sup.first_name}, see you soon. {person.first_name}",
                "sent_at": (data.now - timedelta(days=rng.randint(0, 20))).strftime("%Y-%m-%dT%H:%M:%S"),
                "folder": "inbox",
                "is_read": 0,
                "is_starred": 0,
            },
        )
    count = sum(
        1
        for e in data.rows("gmail", "emails")
        if e["folder"] == "inbox" and e["sender"] == person.email and not e["is_read"]
    )
    oracle = program(
        login("gmail"),
        f"emails = every_page(apis.gmail.show_inbox, access_token=gmail_token, sender={person.email!r}, "
        "is_read=False)\n",
        "apis.supervisor.complete_task(answer=len(emails))\n",
    )
    return question(f"How many unread emails from {person.full_name} are in my Gmail inbox?", count, oracle)


@template("venmo_pay_contact", 2, ("phone", "venmo"))
def venmo_pay_contact(rng: random.Random, data: WorldData) -> Instance:
    contact = rng.choice(data.contacts())
    amount = float(rng.choice((12, 18, 25, 30, 42, 55, 60, 75)))
    note = rng.choice(("Pizza night", "Movie tickets", "Book club snacks", "Parking", "Birthday gift"))
    name = f"{contact['first_name']} {contact['last_name']}"
    sup = data.supervisor
    for user in data.rows("venmo", "users"):
        if user["id"] == sup.id:
            user["balance"] = max(user["balance"], amount + 100)

    def paid(o: Outcome) -> bool:
        new = o.added("venmo.transactions")
        return (
            len(new) == 1
            and new[0]["sender_id"] == sup.id
            and new[0]["amount"] == amount
            and new[0]["receiver_id"] == _person_id(data, contact["email"])
            and same_text(new[0]["description"], note)
        )

    def balance(o: Outcome) -> bool:
        changes = {b["id"]: a["balance"] - b["balance"] for b, a in o.updated("venmo.users")}
        return abs(changes.get(sup.id, 0) + amount) < 1e-6

    oracle = program(
        login("phone"),
        login("venmo"),
        f"contact = apis.phone.search_contacts(access_token=phone_token, query={name!r})[0]\n",
        f"apis.venmo.create_transaction(access_token=venmo_token, receiver_email=contact['email'], amount={amount}, "
        f"description={note!r})\n",
        "apis.supervisor.complete_task()\n",
    )
    tests = [
        Test(f"exactly one new Venmo payment of {amount} to {name} described '{note}'", paid),
        Test(f"the supervisor's Venmo balance went down by {amount}", balance),
    ]
    return action(
        f'Send ${amount:.0f} to {name} on Venmo with the description "{note}". {name} is in my phone contacts.',
        tests,
        oracle,
        {"venmo.transactions", "venmo.users"},
    )


def _person_id(data: WorldData, email: str) -> int:
    return next(p.id for p in data.people if p.email == email)


@template("phone_text_relationship", 2, ("phone",))
def phone_text_relationship(rng: random.Random, data: WorldData) -> Instance:
    relationship = rng.choice(("friend", "coworker", "family", "roommate", "neighbor"))
    contact = rng.choice([c for c in data.contacts() if c["relationship"] == relationship])
    message = rng.choice(
        (
            "I'll be home late tonight.",
            "Don't forget the meeting at 3.",
            "Can you call me back?",
            "Dinner is on me this Friday!",
            "I found your keys.",
        )
    )

    def sent(o: Outcome) -> bool:
        new = o.added("phone.text_messages")
        return (
            len(new) == 1
            and new[0]["receiver_phone"] == contact["phone_number"]
            and same_text(new[0]["message"], message)
        )

    oracle = program(
        login("phone"),
        f"contacts = every_page(apis.phone.search_contacts, access_token=phone_token, relationship={relationship!r})\n",
        f"contact = next(c for c in contacts if c['first_name'] == {contact['first_name']!r})\n",
        f"apis.phone.send_text_message(access_token=phone_token, phone_number=contact['phone_number'], "
        f"message={message!r})\n",
        "apis.supervisor.complete_task()\n",
    )
    return action(
        f'Text my {relationship} {contact["first_name"]} this message: "{message}"',
        [Test(f"exactly one new text message to {contact['first_name']} saying the message", sent)],
        oracle,
        {"phone.text_messages"},
    )


@template("note_create", 2, ("simple_note",))
def note_create(rng: random.Random, data: WorldData) -> Instance:
    title = rng.choice(
        ("Party plan", "Weekend errands", "Questions for the landlord", "Vacation ideas", "Reading goals")
    )
    items = rng.sample(TODO_WORDS, k=3)
    content = "; ".join(items)
    tag = rng.choice(("personal", "home", "work"))

    def created(o: Outcome) -> bool:
        new = o.added("simple_note.notes")
        return len(new) == 1 and same_text(new[0]["title"], title) and same_text(new[0]["content"], content)

    def tagged(o: Outcome) -> bool:
        new = o.added("simple_note.notes")
        return len(new) == 1 and [t.lower() for t in new[0]["tags"] or []] == [tag]

    oracle = program(
        login("simple_note"),
        f"apis.simple_note.create_note(access_token=simple_note_token, title={title!r}, content={content!r}, "
        f"tags=[{tag!r}])\n",
        "apis.supervisor.complete_task()\n",
    )
    return action(
        f'Create a note in SimpleNote titled "{title}" with exactly this content: "{content}", and tag it "{tag}".',
        [
            Test(f"one new note titled '{title}' with the given content", created),
            Test(f"the new note's only tag is '{tag}'", tagged),
        ],
        oracle,
        {"simple_note.notes"},
    )


@template("venmo_received_total", 2, ("venmo",))
def venmo_received_total(rng: random.Random, data: WorldData) -> Instance:
    sup = data.supervisor
    person = rng.choice(data.people[1:])
    for _ in range(rng.randint(1, 3)):
        data.add(
            "venmo",
            "transactions",
            {
                "sender_id": person.id,
                "receiver_id": sup.id,
                "amount": float(rng.randint(5, 90)),
                "description": rng.choice(("Lunch", "Tickets", "Gas")),
                "private": 0,
                "created_at": (data.now - timedelta(days=rng.randint(1, 50))).strftime("%Y-%m-%dT%H:%M:%S"),
            },
        )
    total = sum(
        t["amount"]
        for t in data.rows("venmo", "transactions")
        if t["sender_id"] == person.id and t["receiver_id"] == sup.id
    )
    oracle = program(
        login("venmo"),
        f"received = every_page(apis.venmo.show_transactions, access_token=venmo_token, direction='received', "
        f"user_email={person.email!r})\n",
        "apis.supervisor.complete_task(answer=sum(t['amount'] for t in received))\n",
    )
    return question(f"How much money in total have I received from {person.full_name} on Venmo?", total, oracle)


# --- difficulty 3 -------------------------------------------------------------------------------
@template("venmo_request_roommates", 3, ("phone", "venmo"))
def venmo_request_roommates(rng: random.Random, data: WorldData) -> Instance:
    sup = data.supervisor
    roommates = {c["email"] for c in data.contacts() if c["relationship"] == "roommate"}
    amount = float(rng.choice((20, 35, 48, 64, 80)))
    note = rng.choice(("Internet bill", "Cleaning supplies", "Electricity", "House party"))

    def requested(o: Outcome) -> bool:
        new = o.added("venmo.payment_requests")
        payers = {_email(data, r["payer_id"]) for r in new}
        return (
            len(new) == len(roommates)
            and payers == roommates
            and all(
                r["requester_id"] == sup.id and r["amount"] == amount and same_text(r["description"], note) for r in new
            )
        )

    oracle = program(
        login("phone"),
        login("venmo"),
        "roommates = every_page(apis.phone.search_contacts, access_token=phone_token, relationship='roommate')\n",
        "for mate in roommates:\n",
        f"    apis.venmo.create_payment_request(access_token=venmo_token, user_email=mate['email'], amount={amount}, "
        f"description={note!r})\n",
        "apis.supervisor.complete_task()\n",
    )
    return action(
        f'Request ${amount:.0f} on Venmo from each of my roommates with the description "{note}". My phone '
        "contacts say who my roommates are.",
        [
            Test(
                f"one new payment request of {amount} from each roommate and no one else, described '{note}'", requested
            )
        ],
        oracle,
        {"venmo.payment_requests"},
    )


def _email(data: WorldData, person_id: int) -> str:
    return data.person(person_id).email


@template("todoist_complete_due", 3, ("todoist",))
def todoist_complete_due(rng: random.Random, data: WorldData) -> Instance:
    project = rng.choice(data.rows("todoist", "projects"))
    today = data.now.strftime("%Y-%m-%d")
    due = {
        t["id"]
        for t in data.rows("todoist", "tasks")
        if t["project_id"] == project["id"] and not t["completed"] and t["due_date"] <= today
    }
    if not due:
        task = next(t for t in data.rows("todoist", "tasks") if t["project_id"] == project["id"])
        task.update(completed=0, completed_at=None, due_date=today)
        due = {task["id"]}

    def done(o: Outcome) -> bool:
        changed = {a["id"] for b, a in o.updated("todoist.tasks")}
        return changed == due and all(a["completed"] for b, a in o.updated("todoist.tasks"))

    oracle = program(
        login("todoist"),
        "projects = every_page(apis.todoist.show_projects, access_token=todoist_token)\n",
        f"project = next(p for p in projects if p['name'] == {project['name']!r})\n",
        f"tasks = every_page(apis.todoist.search_tasks, access_token=todoist_token, project_id=project['id'], "
        f"completed=False, due_on_or_before={today!r})\n",
        "for task in tasks:\n",
        "    apis.todoist.mark_task_completed(access_token=todoist_token, task_id=task['id'])\n",
        "apis.supervisor.complete_task()\n",
    )
    return action(
        f'Mark every incomplete task in my Todoist project "{project["name"]}" that is due today or earlier as '
        "completed.",
        [Test(f"exactly the {len(due)} incomplete tasks due by today are now completed", done)],
        oracle,
        {"todoist.tasks"},
    )


# --- challenge templates (test_challenge only) ---------------------------------------------------
@template("spotify_playlist_from_likes", 3, ("spotify",), challenge=True)
def spotify_playlist_from_likes(rng: random.Random, data: WorldData) -> Instance:
    sup = data.supervisor
    songs = data.rows("spotify", "songs")
    artist = rng.choice(sorted({s["artist"] for s in songs}))
    liked = {r["song_id"] for r in data.rows("spotify", "song_likes")}
    by_artist = [s for s in songs if s["artist"] == artist]
    for song in rng.sample(by_artist, k=min(2, len(by_artist))):
        if song["id"] not in liked:
            data.add(
                "spotify",
                "song_likes",
                {"user_id": sup.id, "song_id": song["id"], "created_at": data.now.strftime("%Y-%m-%dT%H:%M:%S")},
            )
            liked.add(song["id"])
    want = {s["id"] for s in by_artist if s["id"] in liked}
    title = f"Best of {artist}"

    def made(o: Outcome) -> bool:
        new = o.added("spotify.playlists")
        if len(new) != 1 or not same_text(new[0]["title"], title):
            return False
        return {r["song_id"] for r in o.added("spotify.playlist_songs") if r["playlist_id"] == new[0]["id"]} == want

    oracle = program(
        login("spotify"),
        "liked = every_page(apis.spotify.show_liked_songs, access_token=spotify_token)\n",
        f"playlist_id = apis.spotify.create_playlist(access_token=spotify_token, title={title!r})['playlist_id']\n",
        "for song in liked:\n",
        f"    if song['artist'] == {artist!r}:\n",
        "        apis.spotify.add_song_to_playlist(access_token=spotify_token, playlist_id=playlist_id, "
        "song_id=song['id'])\n",
        "apis.supervisor.complete_task()\n",
    )
    return action(
        f'Create a Spotify playlist named "{title}" holding exactly the songs by {artist} that I have liked.',
        [Test(f"one new playlist '{title}' with exactly the liked songs by {artist}", made)],
        oracle,
        {"spotify.playlists", "spotify.playlist_songs"},
    )


@template("gmail_actions_to_todoist", 3, ("gmail", "todoist"), challenge=True)
def gmail_actions_to_todoist(rng: random.Random, data: WorldData) -> Instance:
    sup = data.supervisor
    project = rng.choice(data.rows("todoist", "projects"))
    chores = rng.sample(TODO_WORDS, k=rng.randint(2, 4))
    for chore in chores:
        person = rng.choice(data.people[1:])
        data.add(
            "gmail",
            "emails",
            {
                "owner_id": sup.id,
                "sender": person.email,
                "recipients": [sup.email],
                "subject": f"Action: {chore}",
                "body": "Please take care of this.",
                "folder": "inbox",
                "is_read": int(rng.random() < 0.5),
                "sent_at": (data.now - timedelta(days=rng.randint(0, 9))).strftime("%Y-%m-%dT%H:%M:%S"),
                "is_starred": 0,
            },
        )
    due = (data.now + timedelta(days=rng.randint(2, 9))).strftime("%Y-%m-%d")

    def created(o: Outcome) -> bool:
        new = o.added("todoist.tasks")
        return sorted(t["title"].strip().lower() for t in new) == sorted(c.lower() for c in chores) and all(
            t["project_id"] == project["id"] and t["due_date"] == due for t in new
        )

    oracle = program(
        login("gmail"),
        login("todoist"),
        "emails = every_page(apis.gmail.show_inbox, access_token=gmail_token, query='Action:')\n",
        "projects = every_page(apis.todoist.show_projects, access_token=todoist_token)\n",
        f"project = next(p for p in projects if p['name'] == {project['name']!r})\n",
        "for email in emails:\n",
        "    if email['subject'].startswith('Action:'):\n",
        "        apis.todoist.create_task(access_token=todoist_token, project_id=project['id'], "
        f"title=email['subject'][len('Action:'):].strip(), due_date={due!r})\n",
        "apis.supervisor.complete_task()\n",
    )
    return action(
        f'For every email in my Gmail inbox whose subject starts with "Action:", add a task to my Todoist project '
        f'"{project["name"]}" titled with the rest of the subject, due {due}.',
        [
            Test(
                f"one new task per 'Action:' email ({len(chores)}), titled after it, in the project, due {due}", created
            )
        ],
        oracle,
        {"todoist.tasks"},
    )


@template("venmo_settle_requests", 3, ("venmo",), challenge=True)
def venmo_settle_requests(rng: random.Random, data: WorldData) -> Instance:
    sup = data.supervisor
    limit = float(rng.choice((40, 60, 80)))
    for amount in (limit - rng.randint(5, 30), limit + rng.randint(5, 60)):
        data.add(
            "venmo",
            "payment_requests",
            {
                "requester_id": rng.choice(data.people[1:]).id,
                "payer_id": sup.id,
                "amount": float(amount),
                "description": rng.choice(("Dinner", "Tickets", "Rent share")),
                "status": "pending",
                "created_at": (data.now - timedelta(days=rng.randint(0, 9))).strftime("%Y-%m-%dT%H:%M:%S"),
                "resolved_at": None,
            },
        )
    for user in data.rows("venmo", "users"):
        if user["id"] == sup.id:
            user["balance"] = max(user["balance"], 2000.0)
    pending = [
        r for r in data.rows("venmo", "payment_requests") if r["payer_id"] == sup.id and r["status"] == "pending"
    ]
    approve = {r["id"] for r in pending if r["amount"] <= limit}
    deny = {r["id"] for r in pending if r["amount"] > limit}

    def settled(o: Outcome) -> bool:
        after = {a["id"]: a["status"] for b, a in o.updated("venmo.payment_requests")}
        return after == {**dict.fromkeys(approve, "approved"), **dict.fromkeys(deny, "denied")}

    def paid(o: Outcome) -> bool:
        new = o.added("venmo.transactions")
        return sorted(t["amount"] for t in new) == sorted(r["amount"] for r in pending if r["id"] in approve)

    oracle = program(
        login("venmo"),
        "requests = every_page(apis.venmo.show_payment_requests, access_token=venmo_token, direction='received', "
        "status='pending')\n",
        "for request in requests:\n",
        f"    if request['amount'] <= {limit}:\n",
        "        apis.venmo.approve_payment_request(access_token=venmo_token, payment_request_id=request['id'])\n",
        "    else:\n",
        "        apis.venmo.deny_payment_request(access_token=venmo_token, payment_request_id=request['id'])\n",
        "apis.supervisor.complete_task()\n",
    )
    return action(
        f"Approve every pending Venmo payment request I received for ${limit:.0f} or less, and deny the other "
        "pending requests I received.",
        [
            Test("each pending received request is approved (at most the limit) or denied (above it)", settled),
            Test("one payment was made for each approved request", paid),
        ],
        oracle,
        {"venmo.payment_requests", "venmo.transactions", "venmo.users"},
    )
