"""URLs of the host project: the admin and the gifting_jobs app."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("gifting_jobs.urls")),
]
