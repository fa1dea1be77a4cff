"""Task templates: each turns a seeded world into one concrete task (instruction, tests, oracle).

Difficulty 1: one app, a lookup. 2: a write, or a lookup across pages or two apps. 3: several
apps, loops over paginated lists, writes. Templates marked `challenge` appear only in the
`test_challenge` split, so that split measures generalisation to unseen task types.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from rlagent.worlds.appsim.population import TODO_WORDS, WorldData
from rlagent.worlds.appsim.tasks.checks import (
    Editable,
    Instance,
    Outcome,
    Test,
    answer_test,
    collateral_test,
    kept_records_test,
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


def question(instruction: str, answer: object, oracle: str, near_misses: dict[str, str]) -> Instance:
    return Instance(
        instruction, [answer_test(answer), collateral_test(set())], oracle, set(), answer, near_misses=near_misses
    )


def action(
    instruction: str,
    tests: list[Test],
    oracle: str,
    tables: set[str],
    near_misses: dict[str, str],
    editable: Editable | None = None,
    edits: str = "",
) -> Instance:
    """`editable`/`edits`: which existing records of `tables` the task itself edits (none unless given)."""
    # No separate "marked complete" test: it would pay partial credit for calling complete_task() and nothing
    # else. Question tasks need complete_task(answer=...) through their answer test.
    checks = [*tests, collateral_test(tables), kept_records_test(tables, editable, edits)]
    return Instance(instruction, checks, oracle, tables, near_misses=near_misses)


def _full_name(row: dict) -> str:
    return f"{row['first_name']} {row['last_name']}"


def _day(now: datetime, days: int) -> str:
    return (now + timedelta(days=days)).strftime("%Y-%m-%d")


# Every template also declares near misses: its oracle with one input or step changed (a different amount,
# recipient, item or day, a step repeated or left out, a wrong answer, collateral damage), each of which must
# fail the task's tests. Those that depend on the world (e.g. "another playlist, of a different size") are
# only declared where the world makes them differ from the oracle.


# --- difficulty 1 -------------------------------------------------------------------------------
@template("phone_contact_number", 1, ("phone",))
def phone_contact_number(rng: random.Random, data: WorldData) -> Instance:
    contact = rng.choice(data.contacts())
    name = f"{contact['first_name']} {contact['last_name']}"
    other = next(c for c in data.contacts() if c["phone_number"] != contact["phone_number"])

    def solve(who: str = name, field: str = "phone_number", then: str = "") -> str:
        return program(
            login("phone"),
            f"found = apis.phone.search_contacts(access_token=phone_token, query={who!r})\n",
            then,
            f'apis.supervisor.complete_task(answer=found[0]["{field}"])\n',
        )

    near_misses = {
        "the number of another contact": solve(who=_full_name(other)),
        "the contact's email instead of the number": solve(field="email"),
        "the right number, and a text message sent to it": solve(
            then='apis.phone.send_text_message(access_token=phone_token, phone_number=found[0]["phone_number"], '
            'message="Is this still your number?")\n'
        ),
    }
    return question(
        f"What is the phone number of {name}, who is in my phone contacts?",
        contact["phone_number"],
        solve(),
        near_misses,
    )


@template("venmo_balance", 1, ("venmo",))
def venmo_balance(rng: random.Random, data: WorldData) -> Instance:
    sup = data.supervisor
    balance = next(u["balance"] for u in data.rows("venmo", "users") if u["id"] == data.supervisor.id)
    read = 'apis.venmo.show_balance(access_token=venmo_token)["balance"]'

    def solve(answer: str = read, before: str = "") -> str:
        return program(login("venmo"), before, f"apis.supervisor.complete_task(answer={answer})\n")

    near_misses = {}
    if round(balance) != balance:
        near_misses["the balance rounded to whole dollars"] = solve(answer=f"round({read})")
    received = sum(t["amount"] for t in data.rows("venmo", "transactions") if t["receiver_id"] == sup.id)
    if abs(received - balance) > 0.005:
        near_misses["the total ever received instead of the balance"] = solve(
            answer="sum(t['amount'] for t in every_page(apis.venmo.show_transactions, access_token=venmo_token, "
            "direction='received'))"
        )
    payable = [
        r
        for r in data.rows("venmo", "payment_requests")
        if r["payer_id"] == sup.id and r["status"] == "pending" and r["amount"] <= balance
    ]
    if payable:
        near_misses["the balance after paying a pending request (collateral damage)"] = solve(
            before="apis.venmo.approve_payment_request(access_token=venmo_token, "
            f"payment_request_id={payable[0]['id']})\n"
        )
    return question("How much money do I have in my Venmo balance?", balance, solve(), near_misses)


@template("spotify_playlist_size", 1, ("spotify",))
def spotify_playlist_size(rng: random.Random, data: WorldData) -> Instance:
    playlists = data.rows("spotify", "playlists")
    playlist = rng.choice(playlists)

    def size(p: dict) -> int:
        return sum(1 for r in data.rows("spotify", "playlist_songs") if r["playlist_id"] == p["id"])

    count = size(playlist)

    def solve(title: str = playlist["title"], answer: str = "len(songs)", then: str = "") -> str:
        return program(
            login("spotify"),
            "library = every_page(apis.spotify.show_playlist_library, access_token=spotify_token)\n",
            f"playlist = next(p for p in library if p['title'] == {title!r})\n",
            "songs = apis.spotify.show_playlist(access_token=spotify_token, playlist_id=playlist['id'])['songs']\n",
            then,
            f"apis.supervisor.complete_task(answer={answer})\n",
        )

    near_misses = {
        "the right count, and the playlist's visibility flipped": solve(
            then="apis.spotify.update_playlist(access_token=spotify_token, playlist_id=playlist['id'], "
            "is_public=not playlist['is_public'])\n"
        )
    }
    other = next((p for p in playlists if size(p) != count), None)
    if other is not None:
        near_misses["the size of another playlist"] = solve(title=other["title"])
    if len(playlists) != count:
        near_misses["the number of playlists instead of songs"] = solve(answer="len(library)")
    return question(f'How many songs are in my Spotify playlist "{playlist["title"]}"?', count, solve(), near_misses)


@template("todoist_open_count", 1, ("todoist",))
def todoist_open_count(rng: random.Random, data: WorldData) -> Instance:
    projects = data.rows("todoist", "projects")
    project = rng.choice(projects)
    tasks = data.rows("todoist", "tasks")

    def open_count(p: dict) -> int:
        return sum(1 for t in tasks if t["project_id"] == p["id"] and not t["completed"])

    count = open_count(project)

    def solve(
        name: str = project["name"],
        where: str = "project_id=project['id'], completed=False",
        search: str = "every_page(apis.todoist.search_tasks, ",
        then: str = "",
    ) -> str:
        return program(
            login("todoist"),
            "projects = every_page(apis.todoist.show_projects, access_token=todoist_token)\n",
            f"project = next(p for p in projects if p['name'] == {name!r})\n",
            f"tasks = {search}access_token=todoist_token, {where})\n",
            then,
            "apis.supervisor.complete_task(answer=len(tasks))\n",
        )

    near_misses = {}
    if any(t["project_id"] == project["id"] and t["completed"] for t in tasks):
        near_misses["completed tasks counted too"] = solve(where="project_id=project['id']")
    if sum(open_count(p) for p in projects) != count:
        near_misses["the open tasks of every project"] = solve(where="completed=False")
    other = next((p for p in projects if open_count(p) != count), None)
    if other is not None:
        near_misses["the open tasks of another project"] = solve(name=other["name"])
    if count > 5:
        near_misses["only the first page of tasks counted"] = solve(search="apis.todoist.search_tasks(")
    if count:
        near_misses["the right count, and an open task marked completed"] = solve(
            then="apis.todoist.mark_task_completed(access_token=todoist_token, task_id=tasks[0]['id'])\n"
        )
    return question(
        f'How many tasks in my Todoist project "{project["name"]}" are not completed yet?', count, solve(), near_misses
    )


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
    inbox = [e for e in data.rows("gmail", "emails") if e["folder"] == "inbox"]
    count = sum(1 for e in inbox if e["sender"] == person.email and not e["is_read"])

    def solve(
        where: str = f"sender={person.email!r}, is_read=False",
        search: str = "every_page(apis.gmail.show_inbox, ",
        then: str = "",
    ) -> str:
        return program(
            login("gmail"),
            f"emails = {search}access_token=gmail_token, {where})\n",
            then,
            "apis.supervisor.complete_task(answer=len(emails))\n",
        )

    near_misses = {
        "the right count, and the emails marked read": solve(
            then="for email in emails:\n"
            "    apis.gmail.mark_email_read(access_token=gmail_token, email_id=email['id'])\n"
        )
    }
    if any(e["sender"] == person.email and e["is_read"] for e in inbox):
        near_misses["read emails counted too"] = solve(where=f"sender={person.email!r}")
    if any(e["sender"] != person.email and not e["is_read"] for e in inbox):
        near_misses["unread emails from everyone"] = solve(where="is_read=False")
    if count > 5:
        near_misses["only the first page of emails counted"] = solve(search="apis.gmail.show_inbox(")
    return question(
        f"How many unread emails from {person.full_name} are in my Gmail inbox?", count, solve(), near_misses
    )


@template("venmo_pay_contact", 2, ("phone", "venmo"))
def venmo_pay_contact(rng: random.Random, data: WorldData) -> Instance:
    contact = rng.choice(data.contacts())
    amount = float(rng.choice((12, 18, 25, 30, 42, 55, 60, 75)))
    notes = ("Pizza night", "Movie tickets", "Book club snacks", "Parking", "Birthday gift")
    note = rng.choice(notes)
    name = f"{contact['first_name']} {contact['last_name']}"
    sup = data.supervisor
    receiver = _person_id(data, contact["email"])
    for user in data.rows("venmo", "users"):
        if user["id"] == sup.id:
            user["balance"] = max(user["balance"], amount + 100)

    def paid(o: Outcome) -> bool:
        new = o.added("venmo.transactions")
        return (
            len(new) == 1
            and new[0]["sender_id"] == sup.id
            and new[0]["amount"] == amount
            and new[0]["receiver_id"] == receiver
            and same_text(new[0]["description"], note)
        )

    def balance(o: Outcome) -> bool:
        changes = {b["id"]: a["balance"] - b["balance"] for b, a in o.updated("venmo.users")}
        return abs(changes.get(sup.id, 0) + amount) < 1e-6

    def solve(
        who: str = name,
        how_much: float = amount,
        text: str = note,
        times: int = 1,
        call: str = "create_transaction(access_token=venmo_token, receiver_email",
    ) -> str:
        pay = f"apis.venmo.{call}=contact['email'], amount={how_much}, description={text!r})\n"
        return program(
            login("phone"),
            login("venmo"),
            f"contact = apis.phone.search_contacts(access_token=phone_token, query={who!r})[0]\n",
            pay * times,
            "apis.supervisor.complete_task()\n",
        )

    other = next(c for c in data.contacts() if c["email"] != contact["email"])
    near_misses = {
        "a different amount": solve(how_much=amount + 10),
        "paid another contact": solve(who=_full_name(other)),
        "a different description": solve(text=next(n for n in notes if n != note)),
        "paid twice": solve(times=2),
        "requested the money instead of paying it": solve(
            call="create_payment_request(access_token=venmo_token, user_email"
        ),
    }
    tests = [
        Test(f"exactly one new Venmo payment of {amount} to {name} described '{note}'", paid),
        Test(f"the supervisor's Venmo balance went down by {amount}", balance),
    ]
    return action(
        f'Send ${amount:.0f} to {name} on Venmo with the description "{note}". {name} is in my phone contacts.',
        tests,
        solve(),
        {"venmo.transactions", "venmo.users"},
        near_misses,
        {"venmo.users": lambda user: user["id"] in (sup.id, receiver)},
        f"the balances of the supervisor and {name}",
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

    def solve(first: str = contact["first_name"], text: str = message, times: int = 1) -> str:
        return program(
            login("phone"),
            f"contacts = every_page(apis.phone.search_contacts, access_token=phone_token, "
            f"relationship={relationship!r})\n",
            f"contact = next(c for c in contacts if c['first_name'] == {first!r})\n",
            f"apis.phone.send_text_message(access_token=phone_token, phone_number=contact['phone_number'], "
            f"message={text!r})\n" * times,
            "apis.supervisor.complete_task()\n",
        )

    near_misses = {
        "the message cut short": solve(text=message.rsplit(" ", 1)[0]),
        "texted twice": solve(times=2),
    }
    other = next(
        (
            c
            for c in data.contacts()
            if c["relationship"] == relationship and c["phone_number"] != contact["phone_number"]
        ),
        None,
    )
    if other is not None:
        near_misses["texted another contact of the same relationship"] = solve(first=other["first_name"])
    return action(
        f'Text my {relationship} {contact["first_name"]} this message: "{message}"',
        [Test(f"exactly one new text message to {contact['first_name']} saying the message", sent)],
        solve(),
        {"phone.text_messages"},
        near_misses,
    )


@template("note_create", 2, ("simple_note",))
def note_create(rng: random.Random, data: WorldData) -> Instance:
    title = rng.choice(
        ("Party plan", "Weekend errands", "Questions for the landlord", "Vacation ideas", "Reading goals")
    )
    items = rng.sample(TODO_WORDS, k=3)
    content = "; ".join(items)
    tags = ("personal", "home", "work")
    tag = rng.choice(tags)

    def created(o: Outcome) -> bool:
        new = o.added("simple_note.notes")
        return len(new) == 1 and same_text(new[0]["title"], title) and same_text(new[0]["content"], content)

    def tagged(o: Outcome) -> bool:
        new = o.added("simple_note.notes")
        return len(new) == 1 and [t.lower() for t in new[0]["tags"] or []] == [tag]

    def solve(
        heading: str = title, text: str = content, labels: str = f"[{tag!r}]", times: int = 1, then: str = ""
    ) -> str:
        return program(
            login("simple_note"),
            then,
            f"apis.simple_note.create_note(access_token=simple_note_token, title={heading!r}, content={text!r}, "
            f"tags={labels})\n" * times,
            "apis.supervisor.complete_task()\n",
        )

    near_misses = {
        "tagged with another tag": solve(labels=repr([next(t for t in tags if t != tag)])),
        "not tagged": solve(labels="[]"),
        "an extra tag": solve(labels=repr([tag, "todo"])),
        "title and content swapped": solve(heading=content, text=title),
        "the items on separate lines instead of the given content": solve(text="\n".join(items)),
        "created twice": solve(times=2),
    }
    existing = next((n for n in data.rows("simple_note", "notes") if tag not in (n["tags"] or [])), None)
    if existing is not None:
        near_misses["the note created, and the tag also added to an existing note"] = solve(
            then=f"apis.simple_note.add_tag(access_token=simple_note_token, note_id={existing['id']}, tag={tag!r})\n"
        )
        near_misses["an existing note rewritten instead of a new one"] = program(
            login("simple_note"),
            f"apis.simple_note.update_note(access_token=simple_note_token, note_id={existing['id']}, title={title!r}, "
            f"content={content!r})\n",
            f"apis.simple_note.add_tag(access_token=simple_note_token, note_id={existing['id']}, tag={tag!r})\n",
            "apis.supervisor.complete_task()\n",
        )
    return action(
        f'Create a note in SimpleNote titled "{title}" with exactly this content: "{content}", and tag it "{tag}".',
        [
            Test(f"one new note titled '{title}' with the given content", created),
            Test(f"the new note's only tag is '{tag}'", tagged),
        ],
        solve(),
        {"simple_note.notes"},
        near_misses,
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
    transactions = data.rows("venmo", "transactions")
    total = sum(t["amount"] for t in transactions if t["sender_id"] == person.id and t["receiver_id"] == sup.id)
    sent = sum(t["amount"] for t in transactions if t["sender_id"] == sup.id and t["receiver_id"] == person.id)
    from_anyone = sum(t["amount"] for t in transactions if t["receiver_id"] == sup.id)

    def solve(
        where: str = f"direction='received', user_email={person.email!r}",
        answer: str = "sum(t['amount'] for t in received)",
    ) -> str:
        return program(
            login("venmo"),
            f"received = every_page(apis.venmo.show_transactions, access_token=venmo_token, {where})\n",
            f"apis.supervisor.complete_task(answer={answer})\n",
        )

    # the total is at least 5 per payment, so never the number of payments
    near_misses = {"the number of payments instead of the total": solve(answer="len(received)")}
    if sent != total:
        near_misses["the total sent to them instead"] = solve(where=f"direction='sent', user_email={person.email!r}")
    if sent:
        near_misses["money sent to them counted too"] = solve(where=f"user_email={person.email!r}")
    if from_anyone != total:
        near_misses["the total received from everyone"] = solve(where="direction='received'")
    return question(
        f"How much money in total have I received from {person.full_name} on Venmo?", total, solve(), near_misses
    )


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

    def solve(
        who: str = "relationship='roommate'",
        mates: str = "roommates",
        how_much: str = f"{amount}",
        times: int = 1,
        then: str = "",
    ) -> str:
        return program(
            login("phone"),
            login("venmo"),
            f"roommates = every_page(apis.phone.search_contacts, access_token=phone_token, {who})\n",
            f"for mate in {mates}:\n",
            f"    apis.venmo.create_payment_request(access_token=venmo_token, user_email=mate['email'], "
            f"amount={how_much}, description={note!r})\n" * times,
            then,
            "apis.supervisor.complete_task()\n",
        )

    near_misses = {
        "requested twice from each roommate": solve(times=2),
        "requested from every contact, not only the roommates": solve(who="query=''"),
    }
    if len(roommates) > 1:
        near_misses["requested from the first roommate only"] = solve(mates="roommates[:1]")
        near_misses["the amount split between the roommates"] = solve(how_much=f"round({amount} / len(roommates), 2)")
    if any(r["payer_id"] == sup.id and r["status"] == "pending" for r in data.rows("venmo", "payment_requests")):
        near_misses["the requests made, and the pending requests I received denied"] = solve(
            then="for request in every_page(apis.venmo.show_payment_requests, access_token=venmo_token, "
            "direction='received', status='pending'):\n"
            "    apis.venmo.deny_payment_request(access_token=venmo_token, payment_request_id=request['id'])\n"
        )
    return action(
        f'Request ${amount:.0f} on Venmo from each of my roommates with the description "{note}". My phone '
        "contacts say who my roommates are.",
        [
            Test(
                f"one new payment request of {amount} from each roommate and no one else, described '{note}'", requested
            )
        ],
        solve(),
        {"venmo.payment_requests"},
        near_misses,
    )


def _email(data: WorldData, person_id: int) -> str:
    return data.person(person_id).email


@template("todoist_complete_due", 3, ("todoist",))
def todoist_complete_due(rng: random.Random, data: WorldData) -> Instance:
    projects = data.rows("todoist", "projects")
    project = rng.choice(projects)
    today = data.now.strftime("%Y-%m-%d")
    tasks = data.rows("todoist", "tasks")
    due = {t["id"] for t in tasks if t["project_id"] == project["id"] and not t["completed"] and t["due_date"] <= today}
    if not due:
        task = next(t for t in tasks if t["project_id"] == project["id"])
        task.update(completed=0, completed_at=None, due_date=today)
        due = {task["id"]}

    def done(o: Outcome) -> bool:
        changed = {a["id"] for b, a in o.updated("todoist.tasks")}
        completed = all(a["completed"] for b, a in o.updated("todoist.tasks"))
        return changed == due and completed and not o.added("todoist.tasks")

    def solve(
        name: str = project["name"],
        where: str = f"project_id=project['id'], completed=False, due_on_or_before={today!r}",
        loop: str = "tasks",
        then: str = "",
    ) -> str:
        return program(
            login("todoist"),
            "projects = every_page(apis.todoist.show_projects, access_token=todoist_token)\n",
            f"project = next(p for p in projects if p['name'] == {name!r})\n",
            f"tasks = every_page(apis.todoist.search_tasks, access_token=todoist_token, {where})\n",
            f"for task in {loop}:\n",
            "    apis.todoist.mark_task_completed(access_token=todoist_token, task_id=task['id'])\n",
            then,
            "apis.supervisor.complete_task()\n",
        )

    def open_due(p: dict, by: str) -> set[int]:
        return {t["id"] for t in tasks if t["project_id"] == p["id"] and not t["completed"] and t["due_date"] <= by}

    other = next(p for p in projects if p["id"] != project["id"])
    near_misses = {
        "the due tasks of another project instead": solve(name=other["name"]),
        "the due tasks completed, and a follow-up task added": solve(
            then="apis.todoist.create_task(access_token=todoist_token, project_id=project['id'], "
            f"title='Review what is overdue', due_date={today!r})\n"
        ),
    }
    yesterday = _day(data.now, -1)
    if open_due(project, yesterday) != due:
        near_misses["only the tasks due before today"] = solve(
            where=f"project_id=project['id'], completed=False, due_on_or_before={yesterday!r}"
        )
    if open_due(project, "9999-12-31") != due:
        near_misses["every open task of the project, due later too"] = solve(
            where="project_id=project['id'], completed=False"
        )
    if any(open_due(p, today) for p in projects if p["id"] != project["id"]):
        near_misses["the due tasks of every project"] = solve(where=f"completed=False, due_on_or_before={today!r}")
    if len(due) > 1:
        near_misses["only the first due task"] = solve(loop="tasks[:1]")
    return action(
        f'Mark every incomplete task in my Todoist project "{project["name"]}" that is due today or earlier as '
        "completed.",
        [Test(f"exactly the {len(due)} incomplete tasks due by today are now completed, and no task was added", done)],
        solve(),
        {"todoist.tasks"},
        near_misses,
        {"todoist.tasks": lambda task: task["id"] in due},
        f"the {len(due)} tasks due by today",
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
        added = o.added("spotify.playlist_songs")
        return {r["song_id"] for r in added} == want and all(r["playlist_id"] == new[0]["id"] for r in added)

    def solve(
        name: str = title,
        source: str = "every_page(apis.spotify.show_liked_songs, access_token=spotify_token)",
        keep: str = f"song['artist'] == {artist!r}",
        then: str = "",
    ) -> str:
        return program(
            login("spotify"),
            f"liked = {source}\n",
            f"playlist_id = apis.spotify.create_playlist(access_token=spotify_token, title={name!r})['playlist_id']\n",
            "for song in liked:\n",
            f"    if {keep}:\n",
            "        apis.spotify.add_song_to_playlist(access_token=spotify_token, playlist_id=playlist_id, "
            "song_id=song['id'])\n",
            then,
            "apis.supervisor.complete_task()\n",
        )

    near_misses = {
        "a liked song by the artist left out": solve(
            keep=f"song['artist'] == {artist!r} and song['id'] != {min(want)}"
        ),
        "titled with the artist's name only": solve(name=artist),
    }
    if len(want) < len(by_artist):
        near_misses["every song by the artist, liked or not"] = solve(
            source=f"every_page(apis.spotify.search_songs, access_token=spotify_token, artist={artist!r})"
        )
    if len(want) < len(liked):
        near_misses["every liked song, by any artist"] = solve(keep="True")
    playlist_songs = data.rows("spotify", "playlist_songs")
    spare = next(
        (
            (p["id"], song)
            for p in data.rows("spotify", "playlists")
            for song in sorted(want)
            if not any(r["playlist_id"] == p["id"] and r["song_id"] == song for r in playlist_songs)
        ),
        None,
    )
    if spare is not None:
        near_misses["the playlist made, and one of its songs added to an existing playlist too"] = solve(
            then=f"apis.spotify.add_song_to_playlist(access_token=spotify_token, playlist_id={spare[0]}, "
            f"song_id={spare[1]})\n"
        )
    return action(
        f'Create a Spotify playlist named "{title}" holding exactly the songs by {artist} that I have liked.',
        [
            Test(
                f"one new playlist '{title}' with exactly the liked songs by {artist}, and no song added to any "
                "other playlist",
                made,
            )
        ],
        solve(),
        {"spotify.playlists", "spotify.playlist_songs"},
        near_misses,
    )


@template("gmail_actions_to_todoist", 3, ("gmail", "todoist"), challenge=True)
def gmail_actions_to_todoist(rng: random.Random, data: WorldData) -> Instance:
    sup = data.supervisor
    projects = data.rows("todoist", "projects")
    project = rng.choice(projects)
    chores = rng.sample(TODO_WORDS, k=rng.randint(2, 4))
    read = []
    for chore in chores:
        person = rng.choice(data.people[1:])
        email = data.add(
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
        read.append(email["is_read"])
    due = (data.now + timedelta(days=rng.randint(2, 9))).strftime("%Y-%m-%d")

    def created(o: Outcome) -> bool:
        new = o.added("todoist.tasks")
        return sorted(t["title"].strip().lower() for t in new) == sorted(c.lower() for c in chores) and all(
            t["project_id"] == project["id"] and t["due_date"] == due for t in new
        )

    def solve(
        inbox: str = "query='Action:'",
        name: str = project["name"],
        title: str = "email['subject'][len('Action:'):].strip()",
        when: str = due,
        loop: str = "emails",
        then: str = "",
    ) -> str:
        return program(
            login("gmail"),
            login("todoist"),
            f"emails = every_page(apis.gmail.show_inbox, access_token=gmail_token, {inbox})\n",
            "projects = every_page(apis.todoist.show_projects, access_token=todoist_token)\n",
            f"project = next(p for p in projects if p['name'] == {name!r})\n",
            f"for email in {loop}:\n",
            "    if email['subject'].startswith('Action:'):\n",
            "        apis.todoist.create_task(access_token=todoist_token, project_id=project['id'], "
            f"title={title}, due_date={when!r})\n",
            then,
            "apis.supervisor.complete_task()\n",
        )

    other = next(p for p in projects if p["id"] != project["id"])
    near_misses = {
        "titles keep the 'Action:' prefix": solve(title="email['subject']"),
        "due a day later": solve(when=(datetime.strptime(due, "%Y-%m-%d") + timedelta(days=1)).strftime("%Y-%m-%d")),
        "added to another project": solve(name=other["name"]),
        "a task for the newest email only": solve(loop="emails[:1]"),
    }
    if any(read):
        near_misses["tasks for the unread emails only"] = solve(inbox="query='Action:', is_read=False")
    postpone = next((t for t in data.rows("todoist", "tasks") if t["project_id"] == project["id"]), None)
    if postpone is not None and postpone["due_date"] != due:
        near_misses["the tasks added, and an existing task of the project moved to the same day"] = solve(
            then=f"apis.todoist.update_task(access_token=todoist_token, task_id={postpone['id']}, due_date={due!r})\n"
        )
    return action(
        f'For every email in my Gmail inbox whose subject starts with "Action:", add a task to my Todoist project '
        f'"{project["name"]}" titled with the rest of the subject, due {due}.',
        [
            Test(
                f"one new task per 'Action:' email ({len(chores)}), titled after it, in the project, due {due}", created
            )
        ],
        solve(),
        {"todoist.tasks"},
        near_misses,
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
    paid_to = {r["requester_id"] for r in pending if r["id"] in approve}

    def settled(o: Outcome) -> bool:
        after = {a["id"]: a["status"] for b, a in o.updated("venmo.payment_requests")}
        wanted = {**dict.fromkeys(approve, "approved"), **dict.fromkeys(deny, "denied")}
        return after == wanted and not o.added("venmo.payment_requests")

    def paid(o: Outcome) -> bool:
        new = o.added("venmo.transactions")
        return sorted(t["amount"] for t in new) == sorted(r["amount"] for r in pending if r["id"] in approve)

    def solve(
        search: str = "every_page(apis.venmo.show_payment_requests, ",
        rule: str = f"request['amount'] <= {limit}",
        otherwise: str = "apis.venmo.deny_payment_request(access_token=venmo_token, payment_request_id=request['id'])",
        then: str = "",
    ) -> str:
        return program(
            login("venmo"),
            f"requests = {search}access_token=venmo_token, direction='received', status='pending')\n",
            "for request in requests:\n",
            f"    if {rule}:\n",
            "        apis.venmo.approve_payment_request(access_token=venmo_token, payment_request_id=request['id'])\n",
            "    else:\n",
            f"        {otherwise}\n",
            then,
            "apis.supervisor.complete_task()\n",
        )

    near_misses = {
        "every pending request approved": solve(rule="True"),
        "the small requests approved, the others left pending": solve(otherwise="pass"),
        "the settling done, and a new payment request sent": solve(
            then=f"apis.venmo.create_payment_request(access_token=venmo_token, user_email={data.people[1].email!r}, "
            "amount=10, description='Your share')\n"
        ),
    }
    if sum(r["amount"] for r in pending if r["id"] in deny) <= 2000.0:
        near_misses["approve and deny swapped"] = solve(rule=f"request['amount'] > {limit}")
    if len(pending) > 5:
        near_misses["only the first page of requests settled"] = solve(search="apis.venmo.show_payment_requests(")
    return action(
        f"Approve every pending Venmo payment request I received for ${limit:.0f} or less, and deny the other "
        "pending requests I received.",
        [
            Test(
                "each pending received request is approved (at most the limit) or denied (above it), and no new "
                "request was made",
                settled,
            ),
            Test("one payment was made for each approved request", paid),
        ],
        solve(),
        {"venmo.payment_requests", "venmo.transactions", "venmo.users"},
        near_misses,
        {
            "venmo.payment_requests": lambda request: request["id"] in approve | deny,
            "venmo.users": lambda user: user["id"] == sup.id or user["id"] in paid_to,
        },
        "the pending requests received, and the balances of the supervisor and the requesters paid",
    )
