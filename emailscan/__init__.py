"""emailscan: crawl a company's website and return the contact email addresses on it."""
