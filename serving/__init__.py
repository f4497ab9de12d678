"""End-user colorization with a pushed model: CLI, batch job, web page."""
