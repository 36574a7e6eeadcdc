"""Writeups, the runs index and doctor checks."""
