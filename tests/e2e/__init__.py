"""End-to-end tests: the demo's scenario on the embedded emulator, and its report in a real browser."""
