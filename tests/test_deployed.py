"""Tests for relay/spinnaker/deployed.py: what a run deploys, read from its trigger, shown safely."""

from __future__ import annotations

import pytest

from relay.spinnaker.deployed import deployed_lines


def jenkins(**build: object) -> dict:
    return {
        "type": "jenkins",
        "job": "relay-build",
        "buildNumber": 42,
        "buildInfo": {
            "name": "relay-build",
            "number": 42,
            "url": "https://ci.example.com/job/relay-build/42/",
            "scm": [
                {"name": "origin/main", "branch": "main", "sha1": "a0cc045c4f340cf3747ca73b19d5aaf0b47c4b44"}
            ],
            **build,
        },
    }


@pytest.mark.parametrize(
    ("trigger", "expected"),
    [
        pytest.param(
            jenkins(),
            [
                "*Build* <https://ci.example.com/job/relay-build/42/|relay-build #42> "
                "commit a0cc045c4f34 on `main`"
            ],
            id="jenkins-build-with-scm",
        ),
        pytest.param(
            {**jenkins(), "source": "github", "project": "acme", "slug": "relay"},
            [
                "*Build* <https://ci.example.com/job/relay-build/42/|relay-build #42> commit "
                "<https://github.com/acme/relay/commit/a0cc045c4f340cf3747ca73b19d5aaf0b47c4b44"
                "|a0cc045c4f34> "
                "on `main`"
            ],
            id="jenkins-build-commit-linked-when-repository-known",
        ),
        pytest.param(
            {"type": "jenkins", "other": jenkins(url=None, scm=[])},
            ["*Build* relay-build #42"],
            id="nested-under-other-without-url-or-scm",
        ),
        pytest.param(
            {"type": "docker", "repository": "acme/relay", "tag": "1.2.3"},
            ["*Image* `acme/relay:1.2.3`"],
            id="tag",
        ),
        pytest.param(
            {"type": "docker", "repository": "acme/relay", "digest": "sha256:4f2a"},
            ["*Image* `acme/relay@sha256:4f2a`"],
            id="digest",
        ),
        pytest.param(
            {
                "type": "git",
                "source": "gitlab",
                "project": "acme",
                "slug": "relay",
                "branch": "main",
                "hash": "0123456789abcdef",
            },
            ["*Commit* <https://gitlab.com/acme/relay/-/commit/0123456789abcdef|0123456789ab> on `main`"],
            id="git",
        ),
        pytest.param(
            {
                "type": "manual",
                "artifacts": [
                    {
                        "type": "docker/image",
                        "name": "acme/relay",
                        "version": "1.2.3",
                        "reference": "acme/relay:1.2.3",
                    },
                    {"type": "gcs/object", "reference": "gs://bucket/manifest.yml"},
                ],
                "resolvedExpectedArtifacts": [
                    {"boundArtifact": {"type": "docker/image", "name": "acme/relay", "version": "1.2.3"}},
                    {"boundArtifact": None},
                ],
            },
            [
                "*Artifact* `acme/relay` 1.2.3 (docker/image)",
                "*Artifact* gs://bucket/manifest.yml (gcs/object)",
            ],
            id="artifacts-once-each-reference-when-no-version",
        ),
        pytest.param(
            {
                "type": "manual",
                "artifacts": [{"type": "x", "name": f"a{i}", "version": "1"} for i in range(7)],
            },
            [*(f"*Artifact* `a{i}` 1 (x)" for i in range(5)), "…and 2 more artifacts"],
            id="many-artifacts",
        ),
        pytest.param(
            {"type": "manual", "artifacts": [{"type": "x", "name": "<!channel> `x`", "version": "1&2"}]},
            ["*Artifact* `&lt;!channel&gt; 'x'` 1&amp;2 (x)"],
            id="escaped",
        ),
        pytest.param(
            {
                "type": "cron",
                "artifacts": [],
                "resolvedExpectedArtifacts": [],
                "buildInfo": None,
                "tag": None,
            },
            [],
            id="nothing-known",
        ),
        pytest.param({"type": "manual", "artifacts": "wrong", "buildInfo": "wrong"}, [], id="wrong-types"),
    ],
)
def test_deployed_lines_show_what_the_trigger_names(trigger: dict, expected: list[str]) -> None:
    assert deployed_lines({"trigger": trigger}) == expected
