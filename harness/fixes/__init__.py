"""The fix drainlab derives from a run's measurements, and how it is written and verified."""
