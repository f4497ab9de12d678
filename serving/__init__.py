"""End-user colorization with a pushed model: CLI, batch job, web page."""

from contracts import terminal_logs

# Before any serving module imports Beam: its known-harmless import warnings stay off the users' terminal.
terminal_logs.mute_known_harmless()
