"""appsim's tasks: templates, the seeded catalogue and splits, the unit tests' building blocks."""
