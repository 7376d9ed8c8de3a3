"""What version a run deploys (a commit, an image, an artifact or a build), the run it follows, and the
compare link between two commits of one hosted repository."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import quote

from relay.spinnaker.execution import COMMIT, MAX_PARENTS, image_ref, trigger_getter

# From the older commit `{base}` to the newer `{head}`; Bitbucket Cloud lists the newer side first. Bitbucket
# Server (a git trigger's `stash` source) is self-hosted, so there is no host to link to.
COMPARE_URLS = {"github": "https://github.com/{project}/{slug}/compare/{base}...{head}",
                "gitlab": "https://gitlab.com/{project}/{slug}/-/compare/{base}...{head}",
                "bitbucket": "https://bitbucket.org/{project}/{slug}/branches/compare/{head}%0D{base}"}
SHORT_COMMIT = 12


@dataclass(frozen=True)
class Version:
    """One run's version as people name it (`label`), with its commit and repository when known."""

    label: str
    commit: str | None = None
    source: str | None = None  # github, gitlab or bitbucket
    project: str | None = None
    slug: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> Version | None:
        if not isinstance(data, dict) or not isinstance(data.get("label"), str):
            return None
        return cls(**{key: data.get(key) for key in ("label", "commit", "source", "project", "slug")})


def version_of(execution: dict[str, Any]) -> Version | None:
    """The version the run's trigger names; for a run started by another pipeline whose trigger names none,
    the version its parent run's trigger names (up to MAX_PARENTS runs up). None when none names one."""
    run: Any = execution
    for _ in range(MAX_PARENTS + 1):
        if not isinstance(run, dict):
            return None
        version = _trigger_version(run)
        if version is not None:
            return version
        run = trigger_getter(run)("parentExecution")
    return None


def _trigger_version(execution: dict[str, Any]) -> Version | None:
    """The version one run's own trigger names, most precise first: a git or CI commit, an image, an
    artifact, a build number."""
    get = trigger_getter(execution)
    build = get("buildInfo") if isinstance(get("buildInfo"), dict) else {}
    scm = next((s for s in _list(build.get("scm")) if isinstance(s, dict) and s.get("sha1")), {})
    sha = scm.get("sha1") or get("hash")
    if isinstance(sha, str) and COMMIT.match(sha):
        source = str(get("source")).lower() if get("source") else None
        return Version(label=sha[:SHORT_COMMIT], commit=sha.lower(), source=source,
                       project=_text(get("project")), slug=_text(get("slug")))
    if get("repository") and (get("tag") or get("digest")):
        return Version(label=image_ref(get))
    artifact = next((a for a in _list(get("artifacts")) if isinstance(a, dict)
                     and (a.get("version") or a.get("reference"))), None)
    if artifact is not None:
        return Version(label=" ".join(str(v) for v in (artifact.get("name"),
                                                        artifact.get("version") or artifact.get("reference"))
                                      if v))
    number = build.get("number") if build.get("number") is not None else get("buildNumber")
    if number is not None:
        return Version(label=f"{build.get('name') or get('job') or 'build'} #{number}")
    return None


def previous_success(executions: list[Any], current: dict[str, Any]) -> dict[str, Any] | None:
    """The latest SUCCEEDED run among `executions` that is of the same pipeline as `current` and started
    before it; None when there is none. Gate's order is not relied on."""
    started = current.get("startTime")
    earlier = [e for e in executions if isinstance(e, dict) and e.get("status") == "SUCCEEDED"
               and e.get("id") != current.get("id")
               and e.get("pipelineConfigId") == current.get("pipelineConfigId")
               and isinstance(e.get("startTime"), int | float)
               and (not isinstance(started, int | float) or e["startTime"] < started)]
    return max(earlier, key=lambda e: e["startTime"], default=None)


def compare_url(before: Version | None, after: Version | None) -> str | None:
    """The hosted compare page from one commit to another of the same repository; None otherwise."""
    if before is None or after is None or not before.commit or not after.commit:
        return None
    template = COMPARE_URLS.get(after.source or "")
    repository = (after.source, after.project, after.slug)
    same = (before.source, before.project, before.slug) == repository and before.commit != after.commit
    if template is None or not same or not after.project or not after.slug:
        return None
    return template.format(project=quote(after.project, safe=""), slug=quote(after.slug, safe=""),
                           base=before.commit, head=after.commit)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
