"""The code agent's prompt: instructions, one worked example, then the task block.

Written for rlagent (not AppWorld's or LOOP's text). The worked example shows what the suite
wants learned: look up API docs, log in with the supervisor's password, read every page of a list
with `page_limit=20`, and finish with `apis.supervisor.complete_task(answer=...)`. Its outputs are
those of appsim's own APIs, and a test checks that the example's calls exist with those parameters.
"""

from __future__ import annotations

from typing import Any

SYSTEM = """\
You are a personal assistant who completes tasks for your supervisor in the apps of their digital \
life (phone, email, payments, music, notes, to-do lists). You act by writing Python code; it runs in a \
persistent Python session (variables stay defined between replies), and you see what it prints.

Apps are reached only through the `apis` object: `apis.<app_name>.<api_name>(**kwargs)`, keyword \
arguments only.

Key instructions:
- Put the code of each step in a ```python block and print what you need to see. Take small steps.
- Do not guess API names or parameters: read them with apis.api_docs.show_api_descriptions(app_name=...) \
and apis.api_docs.show_api_doc(app_name=..., api_name=...).
- Most apps need an access token: log in with the supervisor's username and the password from \
apis.supervisor.show_account_passwords().
- Lists come in pages: pass page_limit=20 and increase page_index until a page comes back empty.
- Change only what the task asks for.
- When done, call apis.supervisor.complete_task(answer=...) with the answer if the task asks a \
question, or apis.supervisor.complete_task() otherwise. If the task cannot be done, call \
apis.supervisor.complete_task(status="fail")."""

TOOLS_NOTE = """

Run code by calling the `execute` tool with the code as its `code` argument, one call per reply."""

EXAMPLE_TASK = """\
Today's date: 2024-03-12T09:30:00
My name: Jo Park. My personal email: jo.park@mail.example. My phone number: 5550142233.
Task: How many of my notes in SimpleNote are tagged "travel"?"""

EXAMPLE: list[tuple[str, str]] = [
    (
        "First, which apps there are.\n```python\nprint(apis.api_docs.show_app_descriptions())\n```",
        "[{'name': 'api_docs', 'description': 'Documentation of every app and API.'}, {'name': 'supervisor', "
        "'description': 'The person you work for: their profile, their account passwords, and task completion.'}, "
        "{'name': 'phone', ...}, {'name': 'venmo', ...}, {'name': 'spotify', ...}, {'name': 'gmail', ...}, "
        "{'name': 'simple_note', 'description': 'A notes app: search, read, create, edit, tag, pin and delete "
        "notes.'}, {'name': 'todoist', ...}]",
    ),
    (
        "Notes live in simple_note. Its APIs:\n```python\n"
        'print(apis.api_docs.show_api_descriptions(app_name="simple_note"))\n```',
        "[{'name': 'login', 'description': 'Log in to your account and get an access token for the other APIs "
        "of this app.'}, {'name': 'search_notes', 'description': 'Search your notes by text, tag or pin.'}, "
        "{'name': 'show_note', 'description': 'Show one note.'}, ...]",
    ),
    (
        "search_notes can filter by tag. Its parameters:\n```python\n"
        'print(apis.api_docs.show_api_doc(app_name="simple_note", api_name="search_notes"))\n```',
        "{'app_name': 'simple_note', 'api_name': 'search_notes', 'method': 'GET', 'parameters': [{'name': "
        "'access_token', 'type': 'string', 'required': True}, {'name': 'query', 'type': 'string', 'required': "
        "False, 'default': ''}, {'name': 'tag', 'type': 'string', 'required': False, 'default': None}, {'name': "
        "'page_index', 'type': 'integer', 'required': False, 'default': 0}, {'name': 'page_limit', 'type': "
        "'integer', 'required': False, 'default': 5, 'constraints': ['value >= 1, <= 20']}], ...}",
    ),
    (
        "I log in with the supervisor's password and read every page of notes tagged travel.\n```python\n"
        'passwords = {p["account_name"]: p["password"] for p in apis.supervisor.show_account_passwords()}\n'
        'token = apis.simple_note.login(username="jo.park@mail.example", password=passwords["simple_note"])'
        '["access_token"]\n'
        "notes, page = [], 0\n"
        "while True:\n"
        '    batch = apis.simple_note.search_notes(access_token=token, tag="travel", page_index=page, page_limit=20)\n'
        "    if not batch:\n"
        "        break\n"
        "    notes.extend(batch)\n"
        "    page += 1\n"
        "print(len(notes))\n```",
        "3",
    ),
    ("Three notes are tagged travel.\n```python\napis.supervisor.complete_task(answer=3)\n```", ""),
]
"""(assistant reply, execution output) pairs of the worked example; the last output is never shown."""


def task_block(info: dict[str, Any]) -> str:
    sup = info["supervisor"]
    return (
        f"Today's date: {info['datetime']}\n"
        f"My name: {sup['first_name']} {sup['last_name']}. My personal email: {sup['email']}. "
        f"My phone number: {sup['phone_number']}.\n"
        f"Task: {info['instruction']}"
    )


def opening_messages(info: dict[str, Any], demonstration: bool, tools: bool) -> list[dict[str, Any]]:
    """System prompt, the worked example as real turns (code protocol), then the task."""
    system = SYSTEM + (TOOLS_NOTE if tools else "")
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}]
    if demonstration:
        if tools:
            steps = "\n".join(
                f"Step {i}: {reply}\nOutput: {out or 'Execution successful.'}"
                for i, (reply, out) in enumerate(EXAMPLE, 1)
            )
            messages[0]["content"] += f"\n\nA worked example.\n{EXAMPLE_TASK}\n{steps}"
        else:
            messages.append({"role": "user", "content": EXAMPLE_TASK})
            for reply, output in EXAMPLE[:-1]:
                messages.append({"role": "assistant", "content": reply})
                messages.append({"role": "user", "content": f"Output:\n{output}"})
            messages.append({"role": "assistant", "content": EXAMPLE[-1][0]})
            done = "Output:\nExecution successful. (Task marked complete.)\n\nNow a new task, in a new session.\n\n"
            messages.append({"role": "user", "content": done + task_block(info)})
            return messages
    messages.append({"role": "user", "content": task_block(info)})
    return messages
