"""The supervisor app: who the agent works for, their passwords, and marking the task complete."""

from __future__ import annotations

from typing import Any

from rlagent.worlds.appsim.framework import ApiError, App, api


class SupervisorApp(App):
    name = "supervisor"
    description = "The person you work for: their profile, their account passwords, and task completion."
    has_accounts = False

    @api(
        "GET",
        "/supervisor/profile",
        "Your supervisor's profile.",
        auth=False,
        returns={
            "first_name": "string",
            "last_name": "string",
            "email": "string",
            "phone_number": "string",
            "birthday": "string",
        },
    )
    def show_profile(self) -> dict[str, Any]:
        sup = self.world.supervisor
        return {
            "first_name": sup.first_name,
            "last_name": sup.last_name,
            "email": sup.email,
            "phone_number": sup.phone_number,
            "birthday": sup.birthday,
        }

    @api(
        "GET",
        "/supervisor/account_passwords",
        "Your supervisor's password of every app account.",
        auth=False,
        returns=[{"account_name": "string", "password": "string"}],
    )
    def show_account_passwords(self) -> list[dict[str, str]]:
        passwords = self.world.data.passwords[self.world.supervisor.id]
        return [{"account_name": app, "password": pw} for app, pw in passwords.items()]

    @api(
        "POST",
        "/supervisor/complete_task",
        "Mark the task complete, with the answer when the task asks a "
        "question (leave it out otherwise), or status 'fail' when it cannot be done.",
        auth=False,
        params={
            "answer": "The answer to the task's question, if it asks one.",
            "status": "'success', or 'fail' when the task cannot be done.",
        },
        returns={"message": "string"},
    )
    def complete_task(self, answer: Any = None, status: str = "success") -> dict[str, Any]:
        if status not in ("success", "fail"):
            raise ApiError(422, f"Invalid status '{status}': success or fail.")
        self.world.completed, self.world.answer, self.world.status = True, answer, status
        return {"message": "Marked the active task complete."}
