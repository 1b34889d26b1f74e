"""The bot's conversation: commands and their handlers, consents and forgetting, what the
bots say, notices."""
