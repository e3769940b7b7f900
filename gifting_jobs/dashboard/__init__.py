"""The jobs dashboard: live pages inside the Django admin for the people who run gifting-jobs.

Pages (one module each): overview, queues, workers, held jobs, dead letters,
scheduler. They are served under the admin's `gifting_jobs/dashboard/` URLs
(`DashboardAdmin.get_urls`), need a staff login with the permission
`gifting_jobs.view_dashboard`, and refresh themselves every few seconds
(`static/gifting_jobs/dashboard.js`, no build step).
"""
