"""(being written) URL patterns of this module are collected by gifting_jobs.urls."""

from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
