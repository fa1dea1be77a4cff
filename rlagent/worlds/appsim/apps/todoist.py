"""The todoist app: projects and to-do tasks with due dates and priorities."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rlagent.worlds.appsim.framework import ApiError, App, api

PROJECT = {"id": "integer", "name": "string", "created_at": "string", "open_task_count": "integer"}
TASK = {
    "id": "integer",
    "project_id": "integer",
    "title": "string",
    "description": "string",
    "due_date": "string",
    "priority": "integer",
    "completed": "boolean",
    "completed_at": "string",
    "created_at": "string",
}
MESSAGE = {"message": "string"}


def _check_date(value: str, name: str) -> str:
    value = value.strip()
    try:
        datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        raise ApiError(422, f"Invalid {name} '{value}': expected YYYY-MM-DD.") from None
    if len(value) != 10:
        raise ApiError(422, f"Invalid {name} '{value}': expected YYYY-MM-DD.")
    return value


class TodoistApp(App):
    name = "todoist"
    description = "A to-do app: projects, and tasks with due dates, priorities and completion."
    schema = """
    CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, first_name TEXT, last_name TEXT, email TEXT UNIQUE,
                        phone_number TEXT, password TEXT);
    CREATE TABLE projects (id INTEGER PRIMARY KEY AUTOINCREMENT, owner_id INTEGER, name TEXT, created_at TEXT);
    CREATE TABLE tasks (id INTEGER PRIMARY KEY AUTOINCREMENT,
        project_id INTEGER, owner_id INTEGER, title TEXT, description TEXT,
                        due_date TEXT, priority INTEGER, completed INTEGER, completed_at TEXT, created_at TEXT);
    """

    # --- helpers ----------------------------------------------------------------------------
    def _project(self, user: dict[str, Any], project_id: int) -> dict[str, Any]:
        found = self.row("SELECT * FROM projects WHERE id = ? AND owner_id = ?", project_id, user["id"])
        return self.must(found, f"Project {project_id}")

    @staticmethod
    def _out(record: dict[str, Any]) -> dict[str, Any]:
        keys = (
            "id",
            "project_id",
            "title",
            "description",
            "due_date",
            "priority",
            "completed",
            "completed_at",
            "created_at",
        )
        task = {k: record[k] for k in keys}
        task["completed"] = bool(task["completed"])
        return task

    def _task(self, user: dict[str, Any], task_id: int) -> dict[str, Any]:
        found = self.row("SELECT * FROM tasks WHERE id = ? AND owner_id = ?", task_id, user["id"])
        return self._out(self.must(found, f"Task {task_id}"))

    @staticmethod
    def _title(title: str) -> str:
        if not title.strip():
            raise ApiError(422, "The title may not be empty.")
        return title.strip()

    # --- projects ---------------------------------------------------------------------------
    @api(
        "GET",
        "/todoist/projects",
        "Your projects, with how many open (not completed) tasks each has.",
        returns=[PROJECT],
    )
    def show_projects(self, user: dict[str, Any], page_index: int = 0, page_limit: int = 5) -> list[dict[str, Any]]:
        rows = self.rows(
            "SELECT p.id, p.name, p.created_at, (SELECT COUNT(*) FROM tasks t WHERE t.project_id = p.id "
            "AND t.completed = 0) AS open_task_count FROM projects p WHERE p.owner_id = ? ORDER BY p.id",
            user["id"],
        )
        return self.page(rows, page_index, page_limit)

    @api(
        "POST",
        "/todoist/projects",
        "Create a project.",
        params={"name": "The project's name; you may not have two projects with the same name."},
        returns={"project_id": "integer", "message": "string"},
    )
    def create_project(self, user: dict[str, Any], name: str) -> dict[str, Any]:
        name = self._title(name)
        clash = self.row("SELECT id FROM projects WHERE owner_id = ? AND lower(name) = ?", user["id"], name.lower())
        if clash:
            raise ApiError(409, f"You already have a project named '{name}' (id {clash['id']}).")
        project_id = self.execute(
            "INSERT INTO projects (owner_id, name, created_at) VALUES (?, ?, ?)", user["id"], name, self.now()
        )
        return {"project_id": project_id, "message": f"Project '{name}' created."}

    @api("DELETE", "/todoist/projects/{project_id}", "Delete a project and all its tasks.", returns=MESSAGE)
    def delete_project(self, user: dict[str, Any], project_id: int) -> dict[str, Any]:
        self._project(user, project_id)
        self.execute("DELETE FROM tasks WHERE project_id = ? AND owner_id = ?", project_id, user["id"])
        self.execute("DELETE FROM projects WHERE id = ?", project_id)
        return {"message": "Project and its tasks deleted."}

    # --- tasks ------------------------------------------------------------------------------
    @api(
        "GET",
        "/todoist/tasks",
        "Search your tasks, ordered by due date (tasks without one last), optionally by "
        "project, text, completion or due date.",
        params={
            "project_id": "Only tasks of this project.",
            "query": "Text to look for in the title or description (case-insensitive); empty matches all.",
            "completed": "Only completed (true) or open (false) tasks; leave out for both.",
            "due_on_or_before": "Only tasks due on or before this date (YYYY-MM-DD).",
        },
        returns=[TASK],
    )
    def search_tasks(
        self,
        user: dict[str, Any],
        project_id: int | None = None,
        query: str = "",
        completed: bool | None = None,
        due_on_or_before: str | None = None,
        page_index: int = 0,
        page_limit: int = 5,
    ) -> list[dict[str, Any]]:
        if due_on_or_before is not None:
            due_on_or_before = _check_date(due_on_or_before, "due_on_or_before")
        rows = self.rows("SELECT * FROM tasks WHERE owner_id = ? ORDER BY due_date IS NULL, due_date, id", user["id"])
        tasks = [self._out(r) for r in rows]
        if project_id is not None:
            tasks = [t for t in tasks if t["project_id"] == project_id]
        needle = query.lower().strip()
        if needle:
            tasks = [t for t in tasks if needle in t["title"].lower() or needle in (t["description"] or "").lower()]
        if completed is not None:
            tasks = [t for t in tasks if t["completed"] == completed]
        if due_on_or_before is not None:
            tasks = [t for t in tasks if t["due_date"] and t["due_date"] <= due_on_or_before]
        return self.page(tasks, page_index, page_limit)

    @api("GET", "/todoist/tasks/{task_id}", "Show one of your tasks.", returns=TASK)
    def show_task(self, user: dict[str, Any], task_id: int) -> dict[str, Any]:
        return self._task(user, task_id)

    @api(
        "POST",
        "/todoist/tasks",
        "Create a task in one of your projects.",
        params={
            "project_id": "The project to add the task to.",
            "title": "The task's title.",
            "description": "Details of the task.",
            "due_date": "Due date as YYYY-MM-DD.",
            "priority": "Priority from 1 (lowest) to 4 (highest).",
        },
        bounds={"priority": (1, 4)},
        returns={"task_id": "integer", "message": "string"},
    )
    def create_task(
        self,
        user: dict[str, Any],
        project_id: int,
        title: str,
        description: str = "",
        due_date: str | None = None,
        priority: int = 1,
    ) -> dict[str, Any]:
        self._project(user, project_id)
        title = self._title(title)
        if due_date is not None:
            due_date = _check_date(due_date, "due_date")
        task_id = self.execute(
            "INSERT INTO tasks (project_id, owner_id, title, description, due_date, priority, completed, completed_at, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, 0, NULL, ?)",
            project_id,
            user["id"],
            title,
            description,
            due_date,
            priority,
            self.now(),
        )
        return {"task_id": task_id, "message": f"Task '{title}' created."}

    @api(
        "PATCH",
        "/todoist/tasks/{task_id}",
        "Update fields of a task, or move it to another project; fields left out stay as they are.",
        params={
            "title": "The new title.",
            "description": "The new description.",
            "due_date": "The new due date as YYYY-MM-DD.",
            "priority": "The new priority, 1 (lowest) to 4.",
            "project_id": "Move the task to this project of yours.",
        },
        bounds={"priority": (1, 4)},
        returns=MESSAGE,
    )
    def update_task(
        self,
        user: dict[str, Any],
        task_id: int,
        title: str | None = None,
        description: str | None = None,
        due_date: str | None = None,
        priority: int | None = None,
        project_id: int | None = None,
    ) -> dict[str, Any]:
        self._task(user, task_id)
        changes: dict[str, Any] = {}
        if title is not None:
            changes["title"] = self._title(title)
        if description is not None:
            changes["description"] = description
        if due_date is not None:
            changes["due_date"] = _check_date(due_date, "due_date")
        if priority is not None:
            changes["priority"] = priority
        if project_id is not None:
            self._project(user, project_id)
            changes["project_id"] = project_id
        for key, value in changes.items():
            self.execute(f"UPDATE tasks SET {key} = ? WHERE id = ?", value, task_id)
        return {"message": "Task updated."}

    @api("POST", "/todoist/tasks/{task_id}/complete", "Mark a task completed.", returns=MESSAGE)
    def mark_task_completed(self, user: dict[str, Any], task_id: int) -> dict[str, Any]:
        if self._task(user, task_id)["completed"]:
            raise ApiError(409, f"Task {task_id} is already completed.")
        self.execute("UPDATE tasks SET completed = 1, completed_at = ? WHERE id = ?", self.now(), task_id)
        return {"message": "Task marked completed."}

    @api(
        "POST", "/todoist/tasks/{task_id}/incomplete", "Mark a completed task as not completed again.", returns=MESSAGE
    )
    def mark_task_incomplete(self, user: dict[str, Any], task_id: int) -> dict[str, Any]:
        if not self._task(user, task_id)["completed"]:
            raise ApiError(409, f"Task {task_id} is not completed.")
        self.execute("UPDATE tasks SET completed = 0, completed_at = NULL WHERE id = ?", task_id)
        return {"message": "Task marked not completed."}

    @api("DELETE", "/todoist/tasks/{task_id}", "Delete one of your tasks.", returns=MESSAGE)
    def delete_task(self, user: dict[str, Any], task_id: int) -> dict[str, Any]:
        self._task(user, task_id)
        self.execute("DELETE FROM tasks WHERE id = ?", task_id)
        return {"message": "Task deleted."}
