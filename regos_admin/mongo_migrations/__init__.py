"""Migrations of Django's and django-q2's apps for MongoDB (ObjectId keys). Generated: `make migrations`."""
