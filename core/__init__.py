"""The bottom of gridshop: TFC amounts and the validated settings (the catalogue among them).

Nothing here imports any other gridshop package, so every room may import it.
"""
