"""The spiders of the emailscan project."""
