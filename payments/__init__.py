"""Outgoing calls to payment providers: Stripe Checkout, Telegram invoices, refunds, reconciliation."""
