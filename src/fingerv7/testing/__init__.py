"""Stand-ins for the outside world that tests and demos run locally (a test radio station)."""
