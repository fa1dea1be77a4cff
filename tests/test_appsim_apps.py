"""The appsim apps venmo, spotify, gmail, simple_note and todoist, driven through `World.call`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from rlagent.worlds.appsim.framework import ApiError
from rlagent.worlds.appsim.population import generate
from rlagent.worlds.appsim.world import World

APPS = ("venmo", "spotify", "gmail", "simple_note", "todoist")


@pytest.fixture
def world() -> Iterator[World]:
    built = World(generate(7))
    yield built
    built.close()


def login(world: World, app: str, person_id: int | None = None) -> str:
    """An access token of the supervisor (through show_account_passwords), or of another person."""
    if person_id is None:
        passwords = world.call("supervisor", "show_account_passwords", {})
        password = {p["account_name"]: p["password"] for p in passwords}[app]
        email = world.supervisor.email
    else:
        password = world.data.passwords[person_id][app]
        email = world.data.person(person_id).email
    return world.call(app, "login", {"username": email, "password": password})["access_token"]


def status_of(world: World, app: str, api_name: str, kwargs: dict[str, Any]) -> int:
    with pytest.raises(ApiError) as caught:
        world.call(app, api_name, kwargs)
    return caught.value.status


def changed_tables(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    return {name for name in after if before.get(name) != after[name]}


def test_every_app_documents_at_least_ten_apis_in_appworld_shape() -> None:
    world = World(generate(3))
    docs = world.docs()
    param_keys = {"name", "type", "required", "description", "default", "constraints"}
    for app in APPS:
        assert len(docs[app]) >= 10, app
        assert {"login", "logout", "show_account"} <= set(docs[app])
        for name, doc in docs[app].items():
            assert set(doc) == {
                "app_name",
                "api_name",
                "path",
                "method",
                "description",
                "parameters",
                "response_schemas",
            }
            assert doc["app_name"] == app and doc["api_name"] == name
            assert doc["path"].startswith(f"/{app}/") and doc["method"] in ("GET", "POST", "PATCH", "PUT", "DELETE")
            assert doc["description"].strip()
            assert set(doc["response_schemas"]) == {"success", "failure"}
            required = [p["required"] for p in doc["parameters"]]
            assert required == sorted(required, reverse=True), f"{app}.{name}: required parameters first"
            for param in doc["parameters"]:
                assert set(param) == param_keys
                assert param["type"] in ("string", "integer", "number", "boolean", "any") or (
                    param["type"].startswith("list[") and param["type"].endswith("]")
                ), f"{app}.{name}.{param['name']}: {param['type']}"
                assert param["description"].strip()
            names = [p["name"] for p in doc["parameters"]]
            if "page_limit" in names:
                limit = next(p for p in doc["parameters"] if p["name"] == "page_limit")
                assert limit["default"] == 5 and limit["constraints"] == ["value >= 1, <= 20"]
    create_task = docs["todoist"]["create_task"]["parameters"]
    assert next(p for p in create_task if p["name"] == "priority")["constraints"] == ["value >= 1, <= 4"]
    recipients = next(p for p in docs["gmail"]["send_email"]["parameters"] if p["name"] == "recipients")
    assert recipients["type"] == "list[string]" and recipients["required"]
    world.close()


def test_venmo(world: World) -> None:
    tok = login(world, "venmo")
    sup = world.supervisor
    call = world.call

    balance = call("venmo", "show_balance", {"access_token": tok})["balance"]
    assert balance == world.table("venmo", "users")[sup.id - 1]["balance"]

    other = world.data.person(5)
    found = call("venmo", "search_users", {"access_token": tok, "query": other.first_name.upper()})
    assert found == [{"id": 5, "first_name": other.first_name, "last_name": other.last_name, "email": other.email}]
    everyone = call("venmo", "search_users", {"access_token": tok, "page_limit": 20})
    assert len(everyone) == 20
    assert call("venmo", "search_users", {"access_token": tok, "page_limit": 20, "page_index": 1})[0] not in everyone

    friends = call("venmo", "show_friends", {"access_token": tok, "page_limit": 20})
    seeded_friends = [r for r in world.table("venmo", "friendships") if r["user_id"] == sup.id]
    assert len(friends) == len(seeded_friends) and all(
        set(f) == {"id", "first_name", "last_name", "email"} for f in friends
    )
    assert call("venmo", "show_friends", {"access_token": tok, "page_index": 1}) == friends[5:10]

    page0 = call("venmo", "show_transactions", {"access_token": tok, "page_limit": 20})
    page1 = call("venmo", "show_transactions", {"access_token": tok, "page_limit": 20, "page_index": 1})
    assert len(page0) == 20 and len(page0) + len(page1) == len(world.table("venmo", "transactions"))
    stamps = [(t["created_at"], t["id"]) for t in page0 + page1]
    assert stamps == sorted(stamps, reverse=True)
    assert isinstance(page0[0]["private"], bool)
    sent = call("venmo", "show_transactions", {"access_token": tok, "direction": "sent", "page_limit": 20})
    assert sent and all(t["sender_email"] == sup.email for t in sent)
    big = call("venmo", "show_transactions", {"access_token": tok, "min_amount": 100, "max_amount": 200})
    assert all(100 <= t["amount"] <= 200 for t in big)
    assert call("venmo", "show_transaction", {"access_token": tok, "transaction_id": page0[0]["id"]}) == page0[0]

    # a payment moves both balances and writes a transaction: only those two tables change
    stranger = next(p for p in world.data.people[1:] if p.email not in {f["email"] for f in friends})
    before = world.snapshot()
    created = call(
        "venmo",
        "create_transaction",
        {"access_token": tok, "receiver_email": stranger.email, "amount": 10.499, "description": "Lunch"},
    )
    assert changed_tables(before, world.snapshot()) == {"venmo.users", "venmo.transactions"}
    shown = call("venmo", "show_transaction", {"access_token": tok, "transaction_id": created["transaction_id"]})
    assert shown["amount"] == 10.5 and shown["receiver_email"] == stranger.email and shown["private"] is False
    assert call("venmo", "show_balance", {"access_token": tok})["balance"] == round(balance - 10.5, 2)

    assert (
        status_of(
            world,
            "venmo",
            "create_transaction",
            {"access_token": tok, "receiver_email": stranger.email, "amount": 1_000_000},
        )
        == 400
    )
    assert (
        status_of(
            world, "venmo", "create_transaction", {"access_token": tok, "receiver_email": stranger.email, "amount": 0}
        )
        == 422
    )
    assert (
        status_of(world, "venmo", "create_transaction", {"access_token": tok, "receiver_email": sup.email, "amount": 5})
        == 422
    )
    assert (
        status_of(
            world,
            "venmo",
            "create_transaction",
            {"access_token": tok, "receiver_email": "x@nowhere.example", "amount": 5},
        )
        == 404
    )

    # friends: both directions, 409 on repeats
    call("venmo", "add_friend", {"access_token": tok, "user_email": stranger.email})
    assert status_of(world, "venmo", "add_friend", {"access_token": tok, "user_email": stranger.email}) == 409
    rows = world.table("venmo", "friendships")
    assert {"user_id": stranger.id, "friend_id": sup.id} in rows and {
        "user_id": sup.id,
        "friend_id": stranger.id,
    } in rows
    call("venmo", "remove_friend", {"access_token": tok, "user_email": stranger.email})
    assert status_of(world, "venmo", "remove_friend", {"access_token": tok, "user_email": stranger.email}) == 409

    # payment requests: another person asks the supervisor; only the payer may approve, once
    other_tok = login(world, "venmo", stranger.id)
    asked = call("venmo", "create_payment_request", {"access_token": other_tok, "user_email": sup.email, "amount": 7})
    request_id = asked["payment_request_id"]
    received = call("venmo", "show_payment_requests", {"access_token": tok, "status": "pending", "page_limit": 20})
    assert received[0]["id"] == request_id and received[0]["requester_email"] == stranger.email
    assert (
        status_of(
            world, "venmo", "approve_payment_request", {"access_token": other_tok, "payment_request_id": request_id}
        )
        == 403
    )
    before = world.snapshot()
    call("venmo", "approve_payment_request", {"access_token": tok, "payment_request_id": request_id})
    assert changed_tables(before, world.snapshot()) == {"venmo.users", "venmo.transactions", "venmo.payment_requests"}
    approved = call("venmo", "show_payment_requests", {"access_token": other_tok, "direction": "sent"})[0]
    assert approved["status"] == "approved" and approved["resolved_at"] == world.now_text()
    assert (
        status_of(world, "venmo", "deny_payment_request", {"access_token": tok, "payment_request_id": request_id})
        == 409
    )
    mine = call("venmo", "create_payment_request", {"access_token": tok, "user_email": stranger.email, "amount": 3})
    call("venmo", "deny_payment_request", {"access_token": other_tok, "payment_request_id": mine["payment_request_id"]})
    denied = call("venmo", "show_payment_requests", {"access_token": tok, "direction": "sent", "status": "denied"})
    assert denied[0]["id"] == mine["payment_request_id"]


def test_spotify(world: World) -> None:
    tok = login(world, "spotify")
    call = world.call

    songs = call("spotify", "search_songs", {"access_token": tok, "page_limit": 20})
    assert [s["id"] for s in songs] == list(range(1, 21))
    assert call("spotify", "search_songs", {"access_token": tok, "page_limit": 20, "page_index": 1})[0]["id"] == 21
    first = songs[0]
    assert first in call("spotify", "search_songs", {"access_token": tok, "query": first["title"].lower()})
    by_artist = call(
        "spotify", "search_songs", {"access_token": tok, "artist": first["artist"].upper(), "page_limit": 20}
    )
    assert by_artist and all(s["artist"] == first["artist"] for s in by_artist)
    assert all(s["genre"] == "jazz" for s in call("spotify", "search_songs", {"access_token": tok, "genre": "Jazz"}))
    assert call("spotify", "show_song", {"access_token": tok, "song_id": 3})["id"] == 3

    library = call("spotify", "show_playlist_library", {"access_token": tok})
    assert len(library) == len(world.table("spotify", "playlists"))
    for summary in library:
        playlist = call("spotify", "show_playlist", {"access_token": tok, "playlist_id": summary["id"]})
        assert len(playlist["songs"]) == summary["song_count"] and isinstance(playlist["is_public"], bool)

    created = call("spotify", "create_playlist", {"access_token": tok, "title": "Late Night"})
    pid = created["playlist_id"]
    assert status_of(world, "spotify", "create_playlist", {"access_token": tok, "title": "Late Night"}) == 409
    before = world.snapshot()
    call("spotify", "add_song_to_playlist", {"access_token": tok, "playlist_id": pid, "song_id": 5})
    assert changed_tables(before, world.snapshot()) == {"spotify.playlist_songs"}
    call("spotify", "add_song_to_playlist", {"access_token": tok, "playlist_id": pid, "song_id": 2})
    assert (
        status_of(world, "spotify", "add_song_to_playlist", {"access_token": tok, "playlist_id": pid, "song_id": 5})
        == 409
    )
    assert (
        status_of(world, "spotify", "add_song_to_playlist", {"access_token": tok, "playlist_id": pid, "song_id": 9999})
        == 404
    )
    shown = call("spotify", "show_playlist", {"access_token": tok, "playlist_id": pid})
    assert [s["id"] for s in shown["songs"]] == [5, 2] and shown["is_public"] is False
    call("spotify", "remove_song_from_playlist", {"access_token": tok, "playlist_id": pid, "song_id": 5})
    assert (
        status_of(
            world, "spotify", "remove_song_from_playlist", {"access_token": tok, "playlist_id": pid, "song_id": 5}
        )
        == 404
    )

    # another user: 403 on a private playlist, public ones are readable, never writable
    other_tok = login(world, "spotify", 2)
    assert status_of(world, "spotify", "show_playlist", {"access_token": other_tok, "playlist_id": pid}) == 403
    call("spotify", "update_playlist", {"access_token": tok, "playlist_id": pid, "title": "Late", "is_public": True})
    assert call("spotify", "show_playlist", {"access_token": other_tok, "playlist_id": pid})["title"] == "Late"
    assert status_of(world, "spotify", "delete_playlist", {"access_token": other_tok, "playlist_id": pid}) == 404
    call("spotify", "delete_playlist", {"access_token": tok, "playlist_id": pid})
    assert not [r for r in world.table("spotify", "playlist_songs") if r["playlist_id"] == pid]

    liked = call("spotify", "show_liked_songs", {"access_token": tok, "page_limit": 20})
    assert len(liked) == len(world.table("spotify", "song_likes"))
    stamps = [s["liked_at"] for s in liked]
    assert stamps == sorted(stamps, reverse=True)
    unliked = next(s for s in songs if s["id"] not in {x["id"] for x in liked})["id"]
    call("spotify", "like_song", {"access_token": tok, "song_id": unliked})
    assert call("spotify", "show_liked_songs", {"access_token": tok})[0]["id"] == unliked
    assert status_of(world, "spotify", "like_song", {"access_token": tok, "song_id": unliked}) == 409
    call("spotify", "unlike_song", {"access_token": tok, "song_id": unliked})
    assert status_of(world, "spotify", "unlike_song", {"access_token": tok, "song_id": unliked}) == 409


def test_gmail(world: World) -> None:
    tok = login(world, "gmail")
    sup = world.supervisor
    call = world.call

    def count(folder: str) -> int:
        return sum(1 for e in world.table("gmail", "emails") if e["owner_id"] == sup.id and e["folder"] == folder)

    inbox = call("gmail", "show_inbox", {"access_token": tok, "page_limit": 20})
    rest = call("gmail", "show_inbox", {"access_token": tok, "page_limit": 20, "page_index": 1})
    assert len(inbox) == 20 and len(inbox) + len(rest) == count("inbox")
    stamps = [e["sent_at"] for e in inbox + rest]
    assert stamps == sorted(stamps, reverse=True)
    assert inbox[0]["recipients"] == [sup.email] and isinstance(inbox[0]["is_read"], bool)
    unread = call("gmail", "show_inbox", {"access_token": tok, "is_read": False, "page_limit": 20})
    assert unread and all(not e["is_read"] for e in unread)
    topic = inbox[0]["subject"]
    assert all(
        topic.lower() in (e["subject"] + e["body"]).lower()
        for e in call("gmail", "show_inbox", {"access_token": tok, "query": topic.upper()})
    )
    from_sender = call("gmail", "show_inbox", {"access_token": tok, "sender": inbox[0]["sender"]})
    assert from_sender and all(e["sender"] == inbox[0]["sender"] for e in from_sender)
    assert len(call("gmail", "show_sent_emails", {"access_token": tok, "page_limit": 20})) == count("sent")

    target = unread[0]
    before = world.snapshot()
    assert call("gmail", "show_email", {"access_token": tok, "email_id": target["id"]}) == target
    assert world.snapshot() == before

    # sending: a sent copy for you and an inbox copy for each gmail user among the recipients; only emails change
    friend = world.data.person(3)
    sent = call(
        "gmail",
        "send_email",
        {
            "access_token": tok,
            "recipients": [friend.email, "someone@else.example"],
            "subject": "Picnic",
            "body": "Saturday?",
        },
    )
    assert changed_tables(before, world.snapshot()) == {"gmail.emails"}
    assert call("gmail", "show_sent_emails", {"access_token": tok})[0]["id"] == sent["email_id"]
    friend_tok = login(world, "gmail", friend.id)
    got = call("gmail", "show_inbox", {"access_token": friend_tok})
    assert got[0]["subject"] == "Picnic" and got[0]["is_read"] is False and got[0]["sender"] == sup.email
    assert status_of(world, "gmail", "show_email", {"access_token": friend_tok, "email_id": target["id"]}) == 404
    assert (
        status_of(world, "gmail", "send_email", {"access_token": tok, "recipients": [], "subject": "x", "body": "y"})
        == 422
    )
    assert (
        status_of(
            world,
            "gmail",
            "send_email",
            {"access_token": tok, "recipients": ["not-an-address"], "subject": "x", "body": "y"},
        )
        == 422
    )

    reply = call("gmail", "reply_to_email", {"access_token": friend_tok, "email_id": got[0]["id"], "body": "Yes!"})
    shown = call("gmail", "show_email", {"access_token": friend_tok, "email_id": reply["email_id"]})
    assert shown["subject"] == "Re: Picnic" and shown["recipients"] == [sup.email]
    again = call(
        "gmail",
        "reply_to_email",
        {"access_token": tok, "email_id": call("gmail", "show_inbox", {"access_token": tok})[0]["id"], "body": "Great"},
    )
    assert call("gmail", "show_email", {"access_token": tok, "email_id": again["email_id"]})["subject"] == "Re: Picnic"
    fwd = call("gmail", "forward_email", {"access_token": tok, "email_id": target["id"], "recipients": [friend.email]})
    forwarded = call("gmail", "show_email", {"access_token": tok, "email_id": fwd["email_id"]})
    assert forwarded["subject"] == f"Fwd: {target['subject']}" and forwarded["body"] == target["body"]
    found = call("gmail", "search_emails", {"access_token": tok, "query": "picnic", "folder": "sent"})
    assert {e["folder"] for e in found} == {"sent"} and len(found) == 2

    call("gmail", "mark_email_read", {"access_token": tok, "email_id": target["id"]})
    call("gmail", "star_email", {"access_token": tok, "email_id": target["id"]})
    flagged = call("gmail", "show_email", {"access_token": tok, "email_id": target["id"]})
    assert flagged["is_read"] is True and flagged["is_starred"] is True
    call("gmail", "delete_email", {"access_token": tok, "email_id": target["id"]})
    assert status_of(world, "gmail", "delete_email", {"access_token": tok, "email_id": target["id"]}) == 409
    assert target["id"] not in {e["id"] for e in call("gmail", "show_inbox", {"access_token": tok, "page_limit": 20})}


def test_simple_note(world: World) -> None:
    tok = login(world, "simple_note")
    call = world.call

    notes = call("simple_note", "search_notes", {"access_token": tok, "page_limit": 20})
    assert len(notes) == len(world.table("simple_note", "notes")) and isinstance(notes[0]["tags"], list)
    order = [(not n["pinned"], [-ord(c) for c in n["updated_at"]]) for n in notes]
    assert order == sorted(order)
    assert call("simple_note", "search_notes", {"access_token": tok, "page_limit": 5, "page_index": 1}) == notes[5:10]

    created = call(
        "simple_note",
        "create_note",
        {"access_token": tok, "title": "Party plan", "content": "Cake", "tags": ["home", "fun"], "pinned": True},
    )
    nid = created["note_id"]
    assert call("simple_note", "search_notes", {"access_token": tok, "query": "CAKE"})[0]["id"] == nid
    assert call("simple_note", "search_notes", {"access_token": tok, "tag": "fun"})[0]["id"] == nid
    assert all(n["pinned"] for n in call("simple_note", "search_notes", {"access_token": tok, "pinned": True}))
    assert "fun" in call("simple_note", "show_tags", {"access_token": tok})

    before = world.snapshot()
    call("simple_note", "append_to_note", {"access_token": tok, "note_id": nid, "content": "Balloons"})
    assert changed_tables(before, world.snapshot()) == {"simple_note.notes"}
    call("simple_note", "update_note", {"access_token": tok, "note_id": nid, "title": "Party"})
    note = call("simple_note", "show_note", {"access_token": tok, "note_id": nid})
    assert note["title"] == "Party" and note["content"] == "Cake\nBalloons" and note["updated_at"] == world.now_text()

    call("simple_note", "add_tag", {"access_token": tok, "note_id": nid, "tag": "urgent"})
    assert status_of(world, "simple_note", "add_tag", {"access_token": tok, "note_id": nid, "tag": "urgent"}) == 409
    call("simple_note", "remove_tag", {"access_token": tok, "note_id": nid, "tag": "home"})
    assert status_of(world, "simple_note", "remove_tag", {"access_token": tok, "note_id": nid, "tag": "home"}) == 404
    assert call("simple_note", "show_note", {"access_token": tok, "note_id": nid})["tags"] == ["fun", "urgent"]
    call("simple_note", "pin_note", {"access_token": tok, "note_id": nid, "pinned": False})
    assert call("simple_note", "show_note", {"access_token": tok, "note_id": nid})["pinned"] is False

    other_tok = login(world, "simple_note", 2)
    assert status_of(world, "simple_note", "show_note", {"access_token": other_tok, "note_id": nid}) == 404
    assert call("simple_note", "search_notes", {"access_token": other_tok}) == []
    call("simple_note", "delete_note", {"access_token": tok, "note_id": nid})
    assert status_of(world, "simple_note", "show_note", {"access_token": tok, "note_id": nid}) == 404


def test_todoist(world: World) -> None:
    tok = login(world, "todoist")
    call = world.call

    projects = call("todoist", "show_projects", {"access_token": tok})
    assert [p["name"] for p in projects] == ["Home", "Work", "Errands"]
    tasks = call("todoist", "search_tasks", {"access_token": tok, "page_limit": 20})
    more = call("todoist", "search_tasks", {"access_token": tok, "page_limit": 20, "page_index": 1})
    everything = tasks + more
    assert len(tasks) == min(20, len(everything)) and len(everything) == len(world.table("todoist", "tasks"))
    keys = [(t["due_date"], t["id"]) for t in everything]
    assert keys == sorted(keys)
    home = projects[0]
    open_home = [t for t in everything if t["project_id"] == home["id"] and not t["completed"]]
    assert home["open_task_count"] == len(open_home)
    filtered = call(
        "todoist", "search_tasks", {"access_token": tok, "project_id": home["id"], "completed": False, "page_limit": 20}
    )
    assert filtered == open_home
    cutoff = world.now.strftime("%Y-%m-%d")
    due = call("todoist", "search_tasks", {"access_token": tok, "due_on_or_before": cutoff, "page_limit": 20})
    assert all(t["due_date"] <= cutoff for t in due)

    created = call("todoist", "create_project", {"access_token": tok, "name": "Garden"})
    assert status_of(world, "todoist", "create_project", {"access_token": tok, "name": "Garden"}) == 409
    task = call(
        "todoist",
        "create_task",
        {
            "access_token": tok,
            "project_id": created["project_id"],
            "title": "Plant tulips",
            "due_date": "2030-04-01",
            "priority": 3,
        },
    )
    tid = task["task_id"]
    assert (
        status_of(
            world,
            "todoist",
            "create_task",
            {"access_token": tok, "project_id": created["project_id"], "title": "x", "priority": 5},
        )
        == 422
    )
    assert (
        status_of(
            world,
            "todoist",
            "create_task",
            {"access_token": tok, "project_id": created["project_id"], "title": "x", "due_date": "04/01/2030"},
        )
        == 422
    )
    assert call("todoist", "search_tasks", {"access_token": tok, "query": "TULIPS"})[0]["id"] == tid

    before = world.snapshot()
    call("todoist", "mark_task_completed", {"access_token": tok, "task_id": tid})
    assert changed_tables(before, world.snapshot()) == {"todoist.tasks"}
    shown = call("todoist", "show_task", {"access_token": tok, "task_id": tid})
    assert shown["completed"] is True and shown["completed_at"] == world.now_text()
    assert status_of(world, "todoist", "mark_task_completed", {"access_token": tok, "task_id": tid}) == 409
    call("todoist", "mark_task_incomplete", {"access_token": tok, "task_id": tid})
    assert call("todoist", "show_task", {"access_token": tok, "task_id": tid})["completed_at"] is None
    assert status_of(world, "todoist", "mark_task_incomplete", {"access_token": tok, "task_id": tid}) == 409

    call("todoist", "update_task", {"access_token": tok, "task_id": tid, "priority": 4, "project_id": home["id"]})
    moved = call("todoist", "show_task", {"access_token": tok, "task_id": tid})
    assert moved["priority"] == 4 and moved["project_id"] == home["id"] and moved["title"] == "Plant tulips"
    other_tok = login(world, "todoist", 2)
    assert status_of(world, "todoist", "delete_task", {"access_token": other_tok, "task_id": tid}) == 404
    call("todoist", "delete_task", {"access_token": tok, "task_id": tid})
    assert status_of(world, "todoist", "show_task", {"access_token": tok, "task_id": tid}) == 404

    call("todoist", "delete_project", {"access_token": tok, "project_id": home["id"]})
    assert not [t for t in world.table("todoist", "tasks") if t["project_id"] == home["id"]]
    assert len(call("todoist", "show_projects", {"access_token": tok, "page_limit": 20})) == 3
