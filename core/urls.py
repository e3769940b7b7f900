"""URLs of the host project: the admin and the gifting_jobs app."""

from django.contrib import admin
from django.urls import include, path

# This project has no public site of its own: no "View site" link to a 404.
admin.site.site_url = None

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("gifting_jobs.urls")),
]
