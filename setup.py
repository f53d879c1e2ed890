"""Packaging for emailscan: the crawler, the status API and their migrations in one egg/wheel."""

from setuptools import find_packages, setup

setup(
    name="emailscan",
    version="0.1.0",
    description="Crawl a company's website and return the contact email addresses on it.",
    python_requires=">=3.11",
    packages=find_packages(include=["emailscan", "emailscan.*", "statusapi", "statusapi.*"]),
    # Migrations travel inside the egg that scrapyd-deploy builds and inside the wheel.
    package_data={
        "emailscan": ["migrations/*.py", "migrations/*.mako", "migrations/versions/*.py"]
    },
    include_package_data=True,
    zip_safe=False,
    install_requires=[
        "scrapy>=2.14,<3",
        "scrapyd>=1.5,<2",
        "scrapyd-client>=2.0,<3",
        "itemadapter>=0.9,<1",
        "psycopg[binary]>=3.1,<4",
        "flask>=3.0,<4",
        "flask-cors>=4.0,<7",
        "waitress>=3.0,<4",
        "email-validator>=2.1,<3",
        "sqlalchemy>=2.0,<2.2",
        "alembic>=1.13,<2",
        "pydantic>=2.5,<3",
        "tldextract>=5.1,<6",
    ],
    extras_require={
        "test": [
            "pytest>=8,<10",
            "pytest-timeout>=2.2,<3",
            "ruff>=0.17,<0.18",
            # OpenAPI fuzzing of the status API (tests/test_api_fuzz.py); brings hypothesis.
            "schemathesis>=4.32,<5",
        ],
    },
    entry_points={
        "console_scripts": ["emailscan = emailscan.cli:main"],
        # scrapyd reads this to find the settings module of a deployed egg.
        "scrapy": ["settings = emailscan.settings"],
    },
)
