"""A host project's own `@task`s, as a team adopting gifting_jobs would write them."""

from __future__ import annotations

from django.core.mail import send_mail
from django.tasks import task

from gifting_jobs.models import Product, ProductStatus


@task
def publish_product(product_id: int, editor_email: str) -> str:
    """Publish a draft; the Product signal then enqueues its enrichment and embedding."""
    product = Product.objects.get(pk=product_id)
    product.status = ProductStatus.PUBLISHED
    product.save()
    notify_editor.enqueue(editor_email, product.title)
    return product.external_id


@task
def notify_editor(email: str, title: str) -> None:
    send_mail(f"{title} is live", "Your product was published.", None, [email])
