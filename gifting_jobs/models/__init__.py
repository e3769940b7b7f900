"""Domain models of gifting_jobs, one module per concern."""

from gifting_jobs.models.catalog import Product, ProductStatus
from gifting_jobs.models.collections import (
    CuratedCollection,
    CuratedCollectionItem,
    Surface,
)
from gifting_jobs.models.dashboard import Dashboard
from gifting_jobs.models.jobs import (
    FailedJob,
    FailedJobReason,
    FailedJobStatus,
    HeldJob,
    HeldJobReason,
)
from gifting_jobs.models.profiles import Recipient, TasteProfile
from gifting_jobs.models.reminders import (
    Channel,
    NotificationPreference,
    NotificationSchedule,
    NotificationStatus,
    Occasion,
)
from gifting_jobs.models.tasks import TaskResultRecord, TaskStatus

__all__ = [
    "Channel",
    "CuratedCollection",
    "CuratedCollectionItem",
    "Dashboard",
    "FailedJob",
    "FailedJobReason",
    "FailedJobStatus",
    "HeldJob",
    "HeldJobReason",
    "NotificationPreference",
    "NotificationSchedule",
    "NotificationStatus",
    "Occasion",
    "Product",
    "ProductStatus",
    "Recipient",
    "Surface",
    "TaskResultRecord",
    "TaskStatus",
    "TasteProfile",
]
