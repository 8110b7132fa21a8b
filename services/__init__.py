"""The service layer: one command and one handler per business action.

The JSON routes, the support console and the CLI parse their input into a command, call its handler
with the ``Deps`` bundle and shape the answer; the handler owns the transaction boundary (a short
read or claim, commit, then the Temporal call, then the audit row) and never holds a database
connection across a call to Temporal.
"""
