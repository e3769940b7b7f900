"""The end-to-end demo behind `manage.py gifting_demo` (`make demo`).

`data` holds the demo's own content (a gift catalog as CMS webhook documents,
three taste profiles, one occasion); `runner` plays it through the real code
paths (webhook, signals, a Dramatiq worker, the services); `report` formats
what it shows.
"""
