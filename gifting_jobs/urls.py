"""URLs of the gifting_jobs app (namespace `gifting_jobs`)."""

from django.urls import URLPattern

app_name = "gifting_jobs"

urlpatterns: list[URLPattern] = []
