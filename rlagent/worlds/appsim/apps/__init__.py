"""Every appsim app, in the order the docs list them."""

from __future__ import annotations

from rlagent.worlds.appsim.apps.api_docs import ApiDocsApp
from rlagent.worlds.appsim.apps.gmail import GmailApp
from rlagent.worlds.appsim.apps.phone import PhoneApp
from rlagent.worlds.appsim.apps.simple_note import SimpleNoteApp
from rlagent.worlds.appsim.apps.spotify import SpotifyApp
from rlagent.worlds.appsim.apps.supervisor import SupervisorApp
from rlagent.worlds.appsim.apps.todoist import TodoistApp
from rlagent.worlds.appsim.apps.venmo import VenmoApp

APP_CLASSES = (ApiDocsApp, SupervisorApp, PhoneApp, VenmoApp, SpotifyApp, GmailApp, SimpleNoteApp, TodoistApp)
