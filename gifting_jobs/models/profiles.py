"""Recipients and the taste profiles gifters fill in for them."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from gifting_jobs.models.vectors import embedding_field, hnsw_cosine_index


class Recipient(models.Model):
    """Someone a user buys gifts for."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="gift_recipients")
    name = models.CharField(max_length=200)
    relationship = models.CharField(max_length=100, blank=True, default="")
    age_range = models.CharField(max_length=50, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class TasteProfile(models.Model):
    """The questionnaire answers of a user (optionally about one recipient) and their vector."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="taste_profiles")
    recipient = models.ForeignKey(
        Recipient, on_delete=models.CASCADE, null=True, blank=True, related_name="taste_profiles"
    )
    answers = models.JSONField(default=dict, blank=True)
    facets = models.JSONField(default=dict, blank=True, help_text="Derived from the answers.")
    completed_at = models.DateTimeField(null=True, blank=True)

    embedding = embedding_field()
    embedding_text_hash = models.CharField(max_length=64, blank=True, default="")
    embedding_model = models.CharField(max_length=200, blank=True, default="")
    embedded_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "recipient"], nulls_distinct=False, name="taste_profile_one_per_user_recipient"
            ),
        ]
        indexes = [hnsw_cosine_index("taste_profile_embedding_hnsw")]

    def __str__(self) -> str:
        return f"TasteProfile {self.pk} (user {self.user_id}, recipient {self.recipient_id})"
