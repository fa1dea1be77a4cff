"""Building blocks of the scripted oracle: code an expert would write against `apis`.

The oracle runs through the same execution path as the agent's code (sandbox, world APIs), so a
template whose oracle passes its own tests proves both the template and the APIs.
"""

from __future__ import annotations

PREAMBLE = """\
passwords = {p["account_name"]: p["password"] for p in apis.supervisor.show_account_passwords()}
profile = apis.supervisor.show_profile()

def every_page(call, **kwargs):
    items, page = [], 0
    while True:
        batch = call(page_index=page, page_limit=20, **kwargs)
        if not batch:
            return items
        items.extend(batch)
        page += 1
"""


def login(app: str) -> str:
    username = 'profile["phone_number"]' if app == "phone" else 'profile["email"]'
    return f'{app}_token = apis.{app}.login(username={username}, password=passwords["{app}"])["access_token"]\n'


def program(*parts: str) -> str:
    return PREAMBLE + "".join(parts)
