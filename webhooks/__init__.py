"""The aiohttp server: Stripe and Telegram webhooks and the health check."""
