"""Settings for the crawls a test scrapyd runs: the project's, made fast for a local site."""

from emailscan.settings import *  # noqa: F403
from tests.crawl import TEST_SETTINGS

globals().update(TEST_SETTINGS)
