"""A small scrapyd client with timeouts, and several scrapyd nodes seen as one."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import requests

logger = logging.getLogger(__name__)

DEFAULT_PROJECT = "emailscan"
DEFAULT_TIMEOUT = 5.0


class ScrapydError(Exception):
    """scrapyd could not do what was asked."""


class ScrapydUnavailable(ScrapydError):
    """scrapyd did not answer: connection refused, timeout, 5xx or a body that is not its JSON."""


class ScrapydTimeout(ScrapydUnavailable):
    """scrapyd did not answer in time: what was asked may have been done all the same."""


class ScrapydRejected(ScrapydError):
    """scrapyd answered and refused: `"status": "error"` (sent with HTTP 200) or a 4xx."""


class ScrapydClient:
    """One scrapyd node's JSON API; every call has a timeout."""

    def __init__(
        self,
        url: str,
        project: str = DEFAULT_PROJECT,
        username: str | None = None,
        password: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ):
        self.url = url.rstrip("/")
        self.project = project
        self.timeout = timeout
        self.session = requests.Session()
        if username or password:
            self.session.auth = (username or "", password or "")

    def __repr__(self) -> str:
        return f"ScrapydClient({self.url!r}, project={self.project!r})"

    def schedule(self, spider: str, jobid: str, **args: Any) -> str:
        """Queue a crawl; spider arguments are strings, `setting` may be a list of `NAME=value`."""
        data = {"project": self.project, "spider": spider, "jobid": jobid, **args}
        return self._call("POST", "schedule.json", data)["jobid"]

    def cancel(self, jobid: str, signal: str = "TERM") -> str:
        """Cancel a job: "pending" or "running" as it was, "" when scrapyd had no such job."""
        data = {"project": self.project, "job": jobid, "signal": signal}
        return self._call("POST", "cancel.json", data).get("prevstate") or ""

    def listjobs(self) -> dict:
        return self._call("GET", "listjobs.json", {"project": self.project})

    def status(self, jobid: str) -> str:
        """ "pending", "running", "finished", or "" when scrapyd does not know the job."""
        answer = self._call("GET", "status.json", {"job": jobid, "project": self.project})
        return answer.get("currstate") or ""

    def daemonstatus(self) -> dict:
        return self._call("GET", "daemonstatus.json", {})

    def _call(self, method: str, endpoint: str, params: dict) -> dict:
        where = f"{self.url}/{endpoint}"
        key = "data" if method == "POST" else "params"
        try:
            response = self.session.request(method, where, timeout=self.timeout, **{key: params})
        except requests.Timeout as exc:
            raise ScrapydTimeout(f"{where}: no answer within {self.timeout} s") from exc
        except requests.RequestException as exc:
            raise ScrapydUnavailable(f"{where}: {exc}") from exc
        if response.status_code >= 500:
            raise ScrapydUnavailable(f"{where}: HTTP {response.status_code}")
        if response.status_code >= 400:
            raise ScrapydRejected(f"{where}: HTTP {response.status_code}")
        try:
            answer = response.json()
        except ValueError as exc:
            raise ScrapydUnavailable(f"{where}: the answer is not JSON") from exc
        # scrapyd reports errors with HTTP 200: only the status field tells.
        if not isinstance(answer, dict) or answer.get("status") != "ok":
            message = answer.get("message") if isinstance(answer, dict) else answer
            raise ScrapydRejected(f"{where}: {message}")
        return answer


class ScrapydNodes:
    """The scrapyd nodes of a deployment: new crawls go to the least busy one that answers;
    cancel and status go to the node a job was scheduled on (its `scheduler_node`)."""

    def __init__(self, clients: Sequence[Any], factory: Callable[[str], Any] | None = None):
        if not clients:
            raise ValueError("at least one scrapyd node is needed")
        self.clients = list(clients)
        self._factory = factory or ScrapydClient
        self._retired: dict[str, Any] = {}  # recorded nodes no longer configured

    @classmethod
    def from_urls(cls, urls: str | Iterable[str], **options: Any) -> ScrapydNodes:
        """`urls` is a list or a comma-separated string; options are ScrapydClient's."""
        if isinstance(urls, str):
            urls = urls.split(",")
        clients = [ScrapydClient(url.strip(), **options) for url in urls if url.strip()]
        return cls(clients, factory=lambda url: ScrapydClient(url, **options))

    @property
    def urls(self) -> list[str]:
        return [client.url for client in self.clients]

    def client(self, node: str) -> Any:
        """The client for a recorded node URL, also of one no longer configured."""
        node = node.rstrip("/")
        for client in self.clients:
            if client.url == node:
                return client
        if node not in self._retired:
            self._retired[node] = self._factory(node)
        return self._retired[node]

    def schedule(self, spider: str, jobid: str, **args: Any) -> tuple[str, str]:
        """Schedule on the least busy node, the next one if it does not answer: (node, jobid).

        A node that timed out is asked once more: it may be slow rather than gone. Either
        time it may have queued the crawl all the same; a second crawl of the job is harmless,
        as only one crawl can claim a job and the other exits.
        """
        failures = []
        for client in self._by_load():
            for attempt in (1, 2):
                try:
                    return client.url, client.schedule(spider, jobid, **args)
                except ScrapydTimeout as exc:
                    logger.warning(
                        "scrapyd node %s timed out (try %d): %s", client.url, attempt, exc
                    )
                    failures.append(str(exc))
                except ScrapydUnavailable as exc:
                    logger.warning("scrapyd node %s unavailable: %s", client.url, exc)
                    failures.append(str(exc))
                    break
        raise ScrapydUnavailable("; ".join(failures))

    def _by_load(self) -> list[Any]:
        if len(self.clients) == 1:
            return list(self.clients)  # nothing to choose: spare a round trip
        loads = {}
        for client in self.clients:
            try:
                status = client.daemonstatus()
                loads[client.url] = status.get("pending", 0) + status.get("running", 0)
            except ScrapydError:
                loads[client.url] = float("inf")  # tried last, in case it is back
        return sorted(self.clients, key=lambda client: loads[client.url])

    def cancel(self, node: str | None, jobid: str) -> str:
        """Cancel on the job's node; without a recorded node, on every node."""
        if node:
            return self.client(node).cancel(jobid)
        return self._ask_every_node("cancel", jobid)

    def status(self, node: str | None, jobid: str) -> str:
        """The job's state on its node; without a recorded node, the first node that knows it."""
        if node:
            return self.client(node).status(jobid)
        return self._ask_every_node("status", jobid)

    def _ask_every_node(self, method: str, jobid: str) -> str:
        """The first non-empty answer; "" only when every node answered it has no such job."""
        error = None
        for client in self.clients:
            try:
                state = getattr(client, method)(jobid)
            except ScrapydError as exc:
                error = exc
                continue
            if state:
                return state
        if error is not None:
            raise error
        return ""

    def daemonstatus(self) -> list[tuple[str, dict | ScrapydError]]:
        """Each node's daemonstatus, or the error it gave."""
        answers = []
        for client in self.clients:
            try:
                answers.append((client.url, client.daemonstatus()))
            except ScrapydError as exc:
                answers.append((client.url, exc))
        return answers
