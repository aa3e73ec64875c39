"""Sans-IO protocol core: bytes in, events out, bytes to send; the clock is an argument.

Nothing in this package opens a socket, starts a thread or process, or reads the wall clock
(docs/architecture.md §5). It imports nothing from the rest of `harness`.
"""
