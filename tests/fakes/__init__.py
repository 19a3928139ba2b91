"""Test doubles that speak real protocols over 127.0.0.1."""
