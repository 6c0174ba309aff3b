"""Checkers for the chapters' exercises: each tells the reader whether their own code is right."""


def call_reader_function(fn, args, where: str):
    """Call the reader's ``fn(*args)``: ``(result, None)``, or ``(None, message)`` when it raised.

    A checker reports a failing exercise; it never raises because of the reader's code.
    """
    try:
        return fn(*args), None
    except Exception as error:  # the reader's code: report, never raise
        return None, f"Not yet: your function raised {type(error).__name__}: {error} ({where})."
