"""Faithful local HTTP stand-ins for the outside services gridshop talks to."""
