"""deploy/: the Kubernetes manifests validate against the Kubernetes schemas, and the commands, ports,
probes and routes in them, in the Dockerfile and in the Gunicorn config match the app and its CLI.

The image itself is not built here (that needs a container runtime); these checks read the files."""

from __future__ import annotations

import copy
import re
import runpy
import shlex
from pathlib import Path
from typing import Any

import click
import kubernetes_validate
import pytest
import yaml
from werkzeug.routing import Map, Rule

from relay.app import create_app
from relay.cli import cli
from relay.config import Settings
from relay.services import Services
from relay.serving import gunicorn_options
from relay.store import Store
from relay.web import echo
from relay.wiring import feature_handlers

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
KUBERNETES_VERSION = "1.30.0"
OPS_PATHS = {"/healthz", "/readyz", "/metrics"}


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def base_resources() -> list[dict[str, Any]]:
    """What `kubectl apply -k deploy/kubernetes` applies, with the kustomization's image override."""
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    images = {image["name"]: f"{image['newName']}:{image['newTag']}" for image in kustomization["images"]}
    resources = [doc for name in kustomization["resources"] for doc in documents(KUBERNETES / name)]
    for deployment in by_kind(resources, "Deployment"):
        spec = deployment["spec"]["template"]["spec"]
        for container in spec.get("initContainers", []) + spec["containers"]:
            container["image"] = images.get(container["image"], container["image"])
    return resources


def by_kind(resources: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [resource for resource in resources if resource["kind"] == kind]


def named(resources: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    [resource] = [r for r in by_kind(resources, kind) if r["metadata"]["name"] == name]
    return resource


def container(deployment: dict[str, Any], name: str) -> dict[str, Any]:
    [found] = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == name]
    return found


def port_number(spec_container: dict[str, Any], port: str | int) -> int:
    if isinstance(port, int):
        return port
    [number] = [p["containerPort"] for p in spec_container["ports"] if p["name"] == port]
    return number


def resolve_command(args: list[str]) -> click.Context:
    """Parse `slackops-relay ARGS` as click would, down to the subcommand; fails on unknown options."""
    assert args[0] == "slackops-relay", args
    command: click.Command = cli
    rest = args[1:]
    while isinstance(command, click.Group):
        name, command, rest = command.resolve_command(click.Context(command), rest)
        assert command is not None, f"no command {name!r}"
    return command.make_context(command.name, list(rest))


def url_map(*, ops_only: bool, settings: Settings | None = None) -> Map:
    """Flask's routes, with Echo's paths (answered ahead of Flask's routing) when the app serves them."""
    store = Store.from_url("sqlite://")
    app = create_app(services=Services(handlers=feature_handlers(), settings=settings or Settings(),
                                       store=store, poster=None), ops_only=ops_only, announce=False)
    store.engine.dispose()
    routes = Map([Rule(rule.rule, methods=rule.methods, endpoint=rule.endpoint)
                  for rule in app.url_map.iter_rules()])
    if not ops_only:
        for path in sorted(echo.PATHS):
            routes.add(Rule(path, methods=["POST"], endpoint="echo_events"))
    return routes


def get_routes(url_rules: Map) -> set[str]:
    return {rule.rule for rule in url_rules.iter_rules() if "GET" in rule.methods}


def ingress_matches(path: str, ingress_path: dict[str, Any]) -> bool:
    prefix = ingress_path["path"].rstrip("/")
    if ingress_path["pathType"] == "Exact":
        return path == ingress_path["path"]
    return path == prefix or path.startswith(prefix + "/")


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def instruction(name: str) -> list[str]:
    return [value for key, value in dockerfile_instructions() if key == name]


def exec_form(value: str) -> list[str]:
    return yaml.safe_load(value)  # a JSON array is YAML


@pytest.mark.parametrize("path", sorted(KUBERNETES.rglob("*.yaml")) + sorted(KUBERNETES.rglob("*.yml")),
                         ids=lambda path: str(path.relative_to(KUBERNETES)))
def test_kubernetes_manifests_validate_against_the_schemas(path: Path) -> None:
    for document in documents(path):
        if "apiVersion" not in document:
            continue  # an Echo profile, checked below
        if document["kind"] == "Kustomization" or document["apiVersion"].startswith("spinnaker.io/"):
            continue  # not built-in Kubernetes objects: checked below
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_kubernetes_schema_validation_rejects_a_misspelt_field() -> None:
    deployment = copy.deepcopy(named(base_resources(), "Deployment", "slackops-relay-web"))
    [web] = deployment["spec"]["template"]["spec"]["containers"]
    web["readinesProbe"] = {"httpGet": {"path": "/readyz"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_every_base_manifest() -> None:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    on_disk = {path.name for path in KUBERNETES.glob("*.yaml")}
    on_disk -= {"kustomization.yaml", "secret.example.yaml"}
    assert set(kustomization["resources"]) == on_disk
    assert all(resource["metadata"]["labels"]["app.kubernetes.io/name"] == "slackops-relay"
               for resource in base_resources())


def test_web_deployment_runs_the_image_command_on_the_apps_port_with_its_probes() -> None:
    resources = base_resources()
    web = container(named(resources, "Deployment", "slackops-relay-web"), "web")
    assert "command" not in web and "args" not in web  # the image's Gunicorn command
    environment = named(resources, "ConfigMap", "slackops-relay-config")["data"]
    bind = gunicorn_options(Settings.from_env(environment))["bind"]
    assert port_number(web, "http") == int(bind.rsplit(":", 1)[1])
    routes = get_routes(url_map(ops_only=False))
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert web[probe]["httpGet"]["path"] in routes
        assert port_number(web, web[probe]["httpGet"]["port"]) == port_number(web, "http")
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_worker_deployment_command_parses_and_serves_its_probes_on_the_declared_port() -> None:
    worker = container(named(base_resources(), "Deployment", "slackops-relay-worker"), "worker")
    context = resolve_command(worker["command"])
    assert context.command.name == "worker"
    port = int(context.params["ops_bind"].rsplit(":", 1)[1])
    assert port_number(worker, "ops") == port
    routes = get_routes(url_map(ops_only=True))
    for probe in ("livenessProbe", "readinessProbe"):
        assert worker[probe]["httpGet"]["path"] in routes
        assert port_number(worker, worker[probe]["httpGet"]["port"]) == port


def test_deployments_migrate_first_and_read_the_config_and_secret() -> None:
    resources = base_resources()
    secret_name = documents(KUBERNETES / "secret.example.yaml")[0]["metadata"]["name"]
    for deployment in by_kind(resources, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        [migrate] = pod["initContainers"]
        assert resolve_command(migrate["command"]).command.name == "upgrade"
        for spec_container in pod["initContainers"] + pod["containers"]:
            assert spec_container["envFrom"] == [{"configMapRef": {"name": "slackops-relay-config"}},
                                                 {"secretRef": {"name": secret_name}}]
            assert spec_container["image"].startswith("ghcr.io/slackops-relay/slackops-relay:")
            assert spec_container["securityContext"]["readOnlyRootFilesystem"] is True
            assert spec_container["resources"]["limits"]["memory"]
        assert pod["securityContext"]["runAsNonRoot"] is True


def test_web_shutdown_grace_outlasts_gunicorns_graceful_timeout() -> None:
    web = named(base_resources(), "Deployment", "slackops-relay-web")["spec"]["template"]["spec"]
    pause = int(web["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][1])
    assert web["terminationGracePeriodSeconds"] > gunicorn_options(Settings())["graceful_timeout"] + pause


def test_worker_shutdown_grace_outlasts_a_stopping_workers_calls() -> None:
    worker = named(base_resources(), "Deployment", "slackops-relay-worker")["spec"]["template"]["spec"]
    assert worker["terminationGracePeriodSeconds"] >= Settings().stop_seconds


def test_metrics_annotations_point_at_served_metrics() -> None:
    for deployment in by_kind(base_resources(), "Deployment"):
        template = deployment["spec"]["template"]
        annotations = template["metadata"]["annotations"]
        [main] = template["spec"]["containers"]
        assert int(annotations["prometheus.io/port"]) in [p["containerPort"] for p in main["ports"]]
        assert annotations["prometheus.io/path"] == "/metrics"


def test_service_ingress_and_budgets_select_the_right_pods() -> None:
    resources = base_resources()
    service = named(resources, "Service", "slackops-relay")
    web = named(resources, "Deployment", "slackops-relay-web")
    web_labels = web["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= web_labels.items()
    [service_port] = service["spec"]["ports"]
    assert service_port["targetPort"] in [p["name"] for p in container(web, "web")["ports"]]
    for budget in by_kind(resources, "PodDisruptionBudget"):
        [target] = [d for d in by_kind(resources, "Deployment")
                    if budget["spec"]["selector"]["matchLabels"].items()
                    <= d["spec"]["template"]["metadata"]["labels"].items()]
        assert budget["spec"]["minAvailable"] < target["spec"]["replicas"]
    [rule] = named(resources, "Ingress", "slackops-relay")["spec"]["rules"]
    for path in rule["http"]["paths"]:
        backend = {"name": "slackops-relay", "port": {"name": service_port["name"]}}
        assert path["backend"]["service"] == backend


def test_ingress_routes_every_inbound_surface_and_no_operator_endpoint() -> None:
    [rule] = named(base_resources(), "Ingress", "slackops-relay")["spec"]["rules"]
    paths = rule["http"]["paths"]
    assert {(p["path"], p["pathType"]) for p in paths} == {
        ("/echo/events", "Prefix"), ("/slack", "Prefix"), ("/notifications/callbacks/slack", "Exact")}
    app_routes = {rule.rule for rule in url_map(ops_only=False).iter_rules() if rule.endpoint != "static"}
    for route in app_routes - OPS_PATHS:
        assert any(ingress_matches(route, path) for path in paths), f"{route} is not reachable from outside"
    for route in OPS_PATHS:
        assert not any(ingress_matches(route, path) for path in paths)


def test_console_is_routed_only_by_its_own_example_ingress() -> None:
    """The base Ingress leaves the console and its API unrouted; the example for turning it on routes them
    and nothing else."""
    console_on = Settings(console_auth="basic", console_secret="console-session-secret",
                          console_users=(("olga", "pbkdf2:sha256:1000$salt$00"),),
                          console_operators=frozenset({"olga"}))
    routes = {rule.rule for rule in url_map(ops_only=False, settings=console_on).iter_rules()}
    console_routes = {route for route in routes if route.startswith(("/console", "/api/v1"))}
    assert {"/console/waiting", "/api/v1/judgments", "/console/static/<path:filename>"} <= console_routes
    [base] = named(base_resources(), "Ingress", "slackops-relay")["spec"]["rules"]
    [example] = documents(KUBERNETES / "examples" / "console-ingress.yaml")
    [rule] = example["spec"]["rules"]
    for route in console_routes:
        assert not any(ingress_matches(route, path) for path in base["http"]["paths"]), route
        assert any(ingress_matches(route, path) for path in rule["http"]["paths"]), route
    for route in routes - console_routes:
        assert not any(ingress_matches(route, path) for path in rule["http"]["paths"]), route
    assert {path["backend"]["service"]["name"] for path in rule["http"]["paths"]} == {"slackops-relay"}


@pytest.mark.parametrize("name", ["echo-local.yml", "spinnakerservice-patch.yml"])
def test_echo_examples_point_at_the_service_and_the_webhook(name: str) -> None:
    [document] = documents(KUBERNETES / "examples" / name)
    profile = document["spec"]["spinnakerConfig"]["profiles"]["echo"] if "spec" in document else document
    assert profile["slack"] == {"enabled": False}
    [endpoint] = profile["rest"]["endpoints"]
    host, _, path = endpoint["url"].removeprefix("http://").partition("/")
    assert host.split(".")[0] == named(base_resources(), "Service", "slackops-relay")["metadata"]["name"]
    assert "/" + path in {rule.rule for rule in url_map(ops_only=False).iter_rules()}
    assert endpoint["retryCount"] >= 1


def test_gunicorn_config_uses_the_shared_defaults_and_serves_the_app_factory(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    config = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    for key, value in gunicorn_options(Settings.from_env()).items():
        if not callable(value):
            assert config[key] == value, key
    assert callable(config["on_starting"])
    module, _, call = config["wsgi_app"].partition(":")
    assert (module, call) == ("relay.app", "create_app(announce=False)")
    assert config["worker_class"] == "gthread" and config["accesslog"] is None


def test_gunicorn_config_stops_with_one_line_on_bad_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAY_LOG_FORMAT", "xml")
    with pytest.raises(SystemExit, match="^slackops-relay: RELAY_LOG_FORMAT: must be 'text' or 'json'$"):
        runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))


def test_dockerfile_runs_gunicorn_with_the_packaged_config_as_a_non_root_user() -> None:
    [base] = instruction("FROM")
    assert re.fullmatch(r"python:3\.\d+-slim", base)
    [command] = instruction("CMD")
    argv = exec_form(command)
    assert argv[0] == "gunicorn" and argv[1] == "--config"
    copies = [shlex.split(value) for value in instruction("COPY")]
    assert ["deploy/gunicorn.conf.py", argv[2]] in copies
    [user] = instruction("USER")
    assert user.split(":")[0] not in ("root", "0")
    [exposed] = instruction("EXPOSE")
    environment = dict(pair.split("=", 1) for value in instruction("ENV") for pair in shlex.split(value))
    assert int(exposed) == int(gunicorn_options(Settings.from_env(environment))["bind"].rsplit(":", 1)[1])


def test_dockerfile_installs_dependencies_before_copying_the_code() -> None:
    order = [(key, value) for key, value in dockerfile_instructions() if key in ("COPY", "RUN")]
    dependencies = next(i for i, (key, value) in enumerate(order) if key == "RUN" and "requirements" in value)
    first_code = next(i for i, (key, value) in enumerate(order) if key == "COPY" and value.startswith("rel"))
    assert dependencies < first_code
    assert "setup.cfg" in order[dependencies - 1][1]


def test_dockerfile_healthcheck_and_metrics_directory_match_the_app() -> None:
    [healthcheck] = instruction("HEALTHCHECK")
    url = re.search(r"http://127\.0\.0\.1:(\d+)(/\w+)", healthcheck)
    assert url is not None
    environment = dict(pair.split("=", 1) for value in instruction("ENV") for pair in shlex.split(value))
    assert int(url.group(1)) == int(environment["RELAY_BIND"].rsplit(":", 1)[1])
    assert url.group(2) in get_routes(url_map(ops_only=False))
    metrics_dir = environment["PROMETHEUS_MULTIPROC_DIR"]
    assert any(metrics_dir in value and "--owner relay" in value for value in instruction("RUN"))
    for deployment in by_kind(base_resources(), "Deployment"):
        [main] = deployment["spec"]["template"]["spec"]["containers"]
        assert metrics_dir in [mount["mountPath"] for mount in main["volumeMounts"]]


def test_socket_mode_example_runs_the_socket_command_with_the_shared_config_and_secret() -> None:
    [deployment] = documents(KUBERNETES / "examples" / "socket-mode-deployment.yaml")
    [socket] = deployment["spec"]["template"]["spec"]["containers"]
    assert resolve_command(socket["command"]).command.name == "socket"
    assert deployment["spec"]["replicas"] == 1  # one connection is enough for Socket Mode
    assert {source.get("configMapRef", source.get("secretRef"))["name"] for source in socket["envFrom"]} == {
        "slackops-relay-config", "slackops-relay"}
