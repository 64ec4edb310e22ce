"""Drop-in replacements for the two Python libraries shm replaces."""
