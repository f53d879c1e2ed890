"""Scrapy settings for the emailscan project; every value can be overridden per crawl with -s."""

BOT_NAME = "emailscan"
SPIDER_MODULES = ["emailscan.spiders"]
NEWSPIDER_MODULE = "emailscan.spiders"
