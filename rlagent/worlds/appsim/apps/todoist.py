"""The todoist app: projects and to-do tasks with due dates and priorities."""

from __future__ import annotations

from rlagent.worlds.appsim.framework import App


class TodoistApp(App):
    name = "todoist"
    description = "A to-do app: projects, and tasks with due dates, priorities and completion."
    schema = """
    CREATE TABLE users (id INTEGER PRIMARY KEY, first_name TEXT, last_name TEXT, email TEXT UNIQUE,
                        phone_number TEXT, password TEXT);
    CREATE TABLE projects (id INTEGER PRIMARY KEY, owner_id INTEGER, name TEXT, created_at TEXT);
    CREATE TABLE tasks (id INTEGER PRIMARY KEY, project_id INTEGER, owner_id INTEGER, title TEXT, description TEXT,
                        due_date TEXT, priority INTEGER, completed INTEGER, completed_at TEXT, created_at TEXT);
    """
