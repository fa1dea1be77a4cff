"""The venmo app: a payments app with balances, friends, transactions and payment requests."""

from __future__ import annotations

from rlagent.worlds.appsim.framework import App


class VenmoApp(App):
    name = "venmo"
    description = "A payments app: your balance, friends, money sent and received, and payment requests."
    schema = """
    CREATE TABLE users (id INTEGER PRIMARY KEY, first_name TEXT, last_name TEXT, email TEXT UNIQUE,
                        phone_number TEXT, password TEXT, balance REAL);
    CREATE TABLE friendships (user_id INTEGER, friend_id INTEGER, PRIMARY KEY (user_id, friend_id));
    CREATE TABLE transactions (id INTEGER PRIMARY KEY, sender_id INTEGER, receiver_id INTEGER, amount REAL,
                               description TEXT, created_at TEXT, private INTEGER);
    CREATE TABLE payment_requests (id INTEGER PRIMARY KEY, requester_id INTEGER, payer_id INTEGER, amount REAL,
                                   description TEXT, status TEXT, created_at TEXT, resolved_at TEXT);
    """
