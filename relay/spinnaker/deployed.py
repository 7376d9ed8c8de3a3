"""What a run deploys, from its trigger: artifacts, the CI build and its commit, an image, a git commit; and
which stages deploy it."""

from __future__ import annotations

from typing import Any

from relay.models import EchoEvent
from relay.spinnaker.execution import (
    commit_url,
    image_ref,
    repository_commit_url,
    stage_by_id,
    trigger_getter,
)
from relay.spinnaker.versions import Version, compare_url
from schemas.mrkdwn import escape, link, truncate

MAX_ARTIFACTS = 5
MAX_VALUE = 120  # each name or version is cut, so one huge value cannot crowd out the rest
# Orca's stage types that put a new version out (each stage's PIPELINE_CONFIG_TYPE, or a plugin's alias): the
# server group stages behind Deck's Deploy stage, Kubernetes manifests, CloudFormation and AWS Lambda.
DEPLOY_STAGE_TYPES = frozenset({"deploy", "createServerGroup", "cloneServerGroup", "deployManifest",
                                "deployCloudFormation", "Aws.LambdaDeploymentStage"})


def deployed_lines(execution: dict[str, Any]) -> list[str]:
    """One mrkdwn line per thing known to be deployed; [] when the trigger names nothing."""
    get = trigger_getter(execution)
    lines = [*_build_lines(get), *_artifact_lines(get)]
    if get("repository") and (get("tag") or get("digest")):
        lines.append(f"*Image* `{_short(image_ref(get))}`")
    if get("hash") and not get("buildInfo"):
        commit = link(commit_url(get), _cut(str(get("hash"))[:12]))
        branch = f" on `{_short(get('branch'))}`" if get("branch") else ""
        lines.append(f"*Commit* {commit}{branch}")
    return lines


def is_deploy_stage(event: EchoEvent) -> bool:
    """Whether a stage event is about a deploy stage; its context carries no type, so the execution says."""
    return stage_by_id(event.execution, event.content.get("stageId")).get("type") in DEPLOY_STAGE_TYPES


def change_line(after: Version | None, *, before: Version | None = None, previous_url: str | None = None,
                first: bool = False) -> str:
    """`*Change* from <before> → to <after>`, with a compare link when both are commits of one repository.
    The earlier side is `first deploy` when no run succeeded before, the previous run (linked) when its
    version is not known, and `unknown` when the lookup failed."""
    if first:
        old = "_first deploy_"
    elif before is not None:
        old = link(previous_url, _cut(before.label)) if previous_url else f"`{_short(before.label)}`"
    else:
        old = link(previous_url, "previous run, version unknown") if previous_url else "_unknown_"
    new = f"`{_short(after.label)}`" if after is not None else "_unknown_"
    compare = compare_url(before, after)
    return f"*Change* from {old} → to {new}" + (f" ({link(compare, 'compare')})" if compare else "")


def _build_lines(get: Any) -> list[str]:
    build = get("buildInfo") if isinstance(get("buildInfo"), dict) else {}
    number = build.get("number") if build.get("number") is not None else get("buildNumber")
    if number is None:
        return []
    job = build.get("name") or get("job") or "build"
    url = build.get("url") if isinstance(build.get("url"), str) else None
    words = [f"*Build* {link(url, _cut(f'{job} #{number}'))}"]
    scm = next((s for s in _list(build.get("scm")) if isinstance(s, dict)), {})
    if scm.get("sha1"):
        commit = repository_commit_url(get("source"), get("project"), get("slug"), scm["sha1"])
        words.append(f"commit {link(commit, _cut(str(scm['sha1'])[:12]))}")
    if scm.get("branch"):
        words.append(f"on `{_short(scm['branch'])}`")
    return [" ".join(words)]


def _artifact_lines(get: Any) -> list[str]:
    """Trigger artifacts and the artifacts bound to expected ones, once each."""
    found: list[dict[str, Any]] = [a for a in _list(get("artifacts")) if isinstance(a, dict)]
    found += [a["boundArtifact"] for a in _list(get("resolvedExpectedArtifacts"))
              if isinstance(a, dict) and isinstance(a.get("boundArtifact"), dict)]
    lines: list[str] = []
    for artifact in found:
        line = _artifact_line(artifact)
        if line and line not in lines:
            lines.append(line)
    if len(lines) > MAX_ARTIFACTS:
        return [*lines[:MAX_ARTIFACTS], f"…and {len(lines) - MAX_ARTIFACTS} more artifacts"]
    return lines


def _artifact_line(artifact: dict[str, Any]) -> str | None:
    """`*Artifact* `name` version (type)`; the reference stands in for a missing version."""
    name, version = artifact.get("name"), artifact.get("version") or artifact.get("reference")
    if not name and not version:
        return None
    parts = [f"`{_short(name)}`" if name else None, _short(version) if version else None]
    kind = f" ({_short(artifact['type'])})" if artifact.get("type") else ""
    return "*Artifact* " + " ".join(p for p in parts if p) + kind


def _short(value: Any) -> str:
    """Event text, cut and escaped."""
    return escape(_cut(value))


def _cut(value: Any) -> str:
    """Event text cut to MAX_VALUE; backticks become quotes so a value cannot close its code span."""
    return truncate(str(value).replace("`", "'"), MAX_VALUE)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
