"""Scrapy settings for the emailscan project; every value can be overridden per crawl with -s."""

import os

BOT_NAME = "emailscan"
SPIDER_MODULES = ["emailscan.spiders"]
NEWSPIDER_MODULE = "emailscan.spiders"
USER_AGENT = "emailscan/0.1 (contact-address finder; honours robots.txt)"

# Storage: DATABASE_URL from the environment (never a job argument), default SQLite under ./var.
DATABASE_URL = os.environ.get("DATABASE_URL")
EMAILSCAN_JOBS_ENABLED = True  # record the crawl as a job (claim, progress, results)
EMAILSCAN_PROGRESS_INTERVAL = 2.0  # seconds between progress/heartbeat writes ...
EMAILSCAN_PROGRESS_PAGES = 20  # ... or this many pages, whichever comes first
EMAILSCAN_STORE_BATCH = 200  # sightings per write
EMAILSCAN_DB_RETRY_SECONDS = 60  # failing database writes are retried this long, then it stops
EMAILSCAN_CHECK_MX = False  # email-validator deliverability (DNS) check; syntax only by default

# Limits; per-scan overrides: -a max_pages=N -a max_depth=N -a max_seconds=N.
EMAILSCAN_MAX_PAGES = 500
EMAILSCAN_FRONTIER_FACTOR = 4  # ordinary links queued beyond this many x max_pages are dropped
EMAILSCAN_MAX_URLS_PER_PATTERN = 100  # calendars, session ids, pagination: same-shape URLs
DEPTH_LIMIT = 10
DEPTH_PRIORITY = 0
CLOSESPIDER_TIMEOUT = 900  # wall time in seconds
DOWNLOAD_TIMEOUT = 20
DOWNLOAD_MAXSIZE = 5 * 1024 * 1024  # skip huge bodies
DOWNLOAD_WARNSIZE = 2 * 1024 * 1024
URLLENGTH_LIMIT = 1024
REDIRECT_MAX_TIMES = 5
MEMUSAGE_ENABLED = True
MEMUSAGE_LIMIT_MB = 200  # two crawls, scrapyd and the API fit a 512 MB host
MEMUSAGE_CHECK_INTERVAL_SECONDS = 5  # Scrapy's 60 s lets a crawl overshoot for a minute

# Politeness.
ROBOTSTXT_OBEY = True
ROBOTSTXT_PARSER = "emailscan.robotstxt.BoundedRobotParser"  # Protego on the first 500 KiB
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 8
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 0.25
AUTOTHROTTLE_MAX_DELAY = 10.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 4.0
RETRY_ENABLED = True
RETRY_TIMES = 2
RETRY_HTTP_CODES = [408, 429, 500, 502, 503, 504, 522, 524]
RETRY_BACKOFF_BASE = 1.0  # seconds before the first retry, doubled each time (Retry-After wins)
RETRY_BACKOFF_MAX = 30.0

ITEM_PIPELINES = {
    "emailscan.pipelines.NormalisePipeline": 100,
    "emailscan.pipelines.ValidatePipeline": 200,
    "emailscan.pipelines.DedupePipeline": 300,
    "emailscan.pipelines.StorePipeline": 400,
}
EXTENSIONS = {
    "emailscan.extensions.JobLifecycle": 100,
    "scrapy.extensions.telnet.TelnetConsole": None,
    "scrapy.extensions.memusage.MemoryUsage": None,
    "emailscan.memusage.ProcessMemoryUsage": 0,  # MEMUSAGE_* settings, this process only
}
DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "emailscan.retry.BackoffRetryMiddleware": 550,
    # Last before the download handler, so redirects and retries pass it too.
    "emailscan.middlewares.PrivateNetworkGuardMiddleware": 990,
}

# SSRF guard: connect only to globally routable addresses. The resolver checks every address
# at connection time (DNS rebinding included); the middleware refuses literals and schemes
# up front with a clear error. Tests and local development set ALLOW_PRIVATE_NETWORKS.
ALLOW_PRIVATE_NETWORKS = os.environ.get("ALLOW_PRIVATE_NETWORKS", "").lower() in (
    "1",
    "true",
    "yes",
)
TWISTED_DNS_RESOLVER = "emailscan.resolver.GuardedResolver"
EMAILSCAN_ALLOWED_PORTS = [80, 443, 8080, 8443]  # web ports only; "*": any

# Attack surface off: no telnet console or remote control server, no proxies from the
# environment, http(s) only.
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False
HTTPPROXY_ENABLED = False
DOWNLOAD_HANDLERS = {"file": None, "data": None, "ftp": None, "s3": None}

LOG_LEVEL = "INFO"
LOG_JSON = False  # JSON lines carrying job_id, for scrapyd log collection
FEED_EXPORT_ENCODING = "utf-8"
