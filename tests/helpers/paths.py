"""Where the checkout's files are, for tests that run its programs or read its files."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
