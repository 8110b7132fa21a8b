"""Activity interfaces: stubs with the real activities' names and signatures, for the workflows.

A workflow module imports these, never ``activities.<area>`` itself, so loading a workflow imports no
SQLAlchemy, database code or provider SDK. ``activities/interfaces/<area>.py`` mirrors
``activities/<area>.py`` class by class; a new activity gets its stub here too.
``tests/unit/test_workflow_imports.py`` checks that each stub matches its implementation (name,
parameters, types) and that no implemented activity lacks a stub.
"""
