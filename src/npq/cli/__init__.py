"""The ``npq`` command line (entry point :func:`npq.cli.main.main`)."""
