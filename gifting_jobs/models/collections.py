"""Daily curated collections per app surface, with their ranked items."""

from __future__ import annotations

from django.db import models


class Surface(models.TextChoices):
    HOME = "home", "Home"
    DISCOVERY = "discovery", "Discovery"
    OCCASION = "occasion", "Occasion"


class CuratedCollection(models.Model):
    """One themed collection built for a surface and a date with given parameters."""

    surface = models.CharField(max_length=16, choices=Surface.choices)
    target_date = models.DateField()
    params_hash = models.CharField(max_length=64, help_text="Hash of count, size and filters.")
    params = models.JSONField(default=dict)
    position = models.PositiveIntegerField(help_text="Order of the collection on the surface.")
    theme = models.CharField(max_length=100)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    generated_at = models.DateTimeField(auto_now=True)
    job_id = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        ordering = ["surface", "target_date", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["surface", "target_date", "params_hash", "position"], name="collection_unique_position"
            ),
        ]
        indexes = [models.Index(fields=["surface", "target_date"], name="collection_surface_date")]

    def __str__(self) -> str:
        return f"{self.title} ({self.surface}, {self.target_date})"


class CuratedCollectionItem(models.Model):
    """A product at a rank in a collection."""

    collection = models.ForeignKey(CuratedCollection, on_delete=models.CASCADE, related_name="items")
    product = models.ForeignKey("gifting_jobs.Product", on_delete=models.CASCADE, related_name="+")
    rank = models.PositiveIntegerField()
    score = models.FloatField(default=0.0)

    class Meta:
        ordering = ["collection", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["collection", "product"], name="collection_item_unique_product"),
            models.UniqueConstraint(fields=["collection", "rank"], name="collection_item_unique_rank"),
        ]

    def __str__(self) -> str:
        return f"#{self.rank}: product {self.product_id} in collection {self.collection_id}"
