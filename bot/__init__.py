"""gridshop assembly: config loading, the CLI and the wiring of the bot, server and workers."""
