"""appsim: an offline world of apps (phone, venmo, spotify, gmail, simple_note, todoist) that speaks
AppWorld's environment protocol. Written from scratch; no AppWorld code or data is used."""
