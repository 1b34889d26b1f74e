"""Reconnecting people with their former X contacts: matching, what is due, the delivery
pass, packs, messages, follows made for a person and their grants."""
