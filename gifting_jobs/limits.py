"""Sizes shared by the models and the code that fills their columns.

A plain module (no models imported), so the worker middleware, loaded before
Django's app registry, can use them too.
"""

#: Length of `FailedJob.error_class`; longer class paths are cut to it.
ERROR_CLASS_MAX_LENGTH = 255
#: How much of an error's text is kept in a `last_error` or `error_message` excerpt.
ERROR_EXCERPT_CHARS = 2000
#: Length of `NotificationSchedule.provider_message_id`; longer provider ids are cut to it.
PROVIDER_MESSAGE_ID_MAX_LENGTH = 200
