"""The bottom of gridshop: TFC amounts, the validated settings (the catalogue among
them) and the texts of the messages queued for users and admins (`notices`).

Nothing here imports any other gridshop package, so every room may import it.
"""
