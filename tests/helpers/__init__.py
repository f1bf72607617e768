"""Test helpers: importable modules that the tests share, and no tests of their own."""
