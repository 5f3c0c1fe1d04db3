"""Reading compose files as text (tasks/facts/compose_file.py): what `composeship init`
detects and what `fab setup` checks on a server."""

from pathlib import Path

import pytest

from tasks.facts import compose_file as cf

EXAMPLE = Path(__file__).resolve().parents[2] / "example"

RECORDED = Path(__file__).parent / "recorded"
# The shape of cookiecutter-django's production compose file (traefik in front).
COOKIECUTTER_PRODUCTION = (RECORDED / "cookiecutter-production.yml").read_text()


def test_example_production_file():
    doc = cf.parse((EXAMPLE / "docker-compose.production.yml").read_text())
    assert list(cf.services(doc)) == ["django", "postgres", "nginx", "celeryworker"]
    assert cf.env_files(doc) == {".envs/.production/.django": ["django", "celeryworker"], ".envs/.production/.postgres": ["django", "postgres", "celeryworker"]}
    assert cf.published_ports(doc) == [cf.PublishedPort("nginx", 8000, "tcp", "", "DJANGO_PUBLISHED_PORT")]
    assert cf.published_ports(doc, {"DJANGO_PUBLISHED_PORT": "8123"})[0].port == 8123
    assert cf.healthcheck_path(cf.services(doc)["django"]) == "/health/"
    assert cf.django_service(doc) == "django"
    assert cf.proxy_service(doc) == "nginx"
    assert cf.services_sharing_build(doc, "django") == ["django", "celeryworker"]


def test_cookiecutter_shaped_production_file():
    doc = cf.parse(COOKIECUTTER_PRODUCTION)
    assert cf.django_service(doc) == "django"
    assert cf.proxy_service(doc) == "traefik"
    assert [(p.service, p.port, p.host_ip) for p in cf.published_ports(doc)] == [("traefik", 80, "0.0.0.0"), ("traefik", 443, "0.0.0.0"), ("traefik", 5555, "0.0.0.0")]
    assert cf.healthcheck_path(cf.services(doc)["django"]) is None
    assert cf.services_sharing_build(doc, "django") == ["django", "celeryworker", "celerybeat"]
    assert cf.env_files(doc)[".envs/.production/.django"] == ["django", "celeryworker", "celerybeat"]


@pytest.mark.parametrize(
    "value, env, expected",
    [
        ("${PORT:-8000}:5000", {}, "8000:5000"),
        ("${PORT:-8000}:5000", {"PORT": "9000"}, "9000:5000"),
        ("${PORT:-8000}:5000", {"PORT": ""}, "8000:5000"),
        ("${PORT-8000}:5000", {"PORT": ""}, ":5000"),
        ("${PORT}", {"PORT": "1"}, "1"),
        ("$PORT/x", {"PORT": "1"}, "1/x"),
        ("${PORT:?set it}", {}, ""),
        ("${TLS:+443}", {"TLS": "yes"}, "443"),
        ("${TLS:+443}", {}, ""),
        ("cost $$5", {}, "cost $5"),
    ],
)
def test_interpolation(value, env, expected):
    assert cf.interpolate(value, env) == expected


def test_port_syntaxes():
    doc = cf.parse(
        """
services:
  web:
    ports:
      - "5000"
      - "8000:5000"
      - "127.0.0.1:8001:5000/tcp"
      - "[::1]:8002:5000"
      - "9000-9001:9000-9001"
      - "127.0.0.1::5000"
      - "53:53/udp"
      - target: 80
        published: "${WEB_PORT:-8080}"
        host_ip: 127.0.0.1
      - target: 81
"""
    )
    found = [(p.port, p.protocol, p.host_ip, p.variable) for p in cf.published_ports(doc, {"WEB_PORT": "8088"})]
    assert found == [
        (8000, "tcp", "", ""),
        (8001, "tcp", "127.0.0.1", ""),
        (8002, "tcp", "::1", ""),
        (9000, "tcp", "", ""),
        (9001, "tcp", "", ""),
        (53, "udp", "", ""),
        (8088, "tcp", "127.0.0.1", "WEB_PORT"),
    ]


def test_env_file_syntaxes():
    doc = cf.parse(
        """
services:
  one:
    env_file: .env.one
  two:
    env_file:
      - path: ./.envs/.production/.django
      - path: ./optional.env
        required: false
      - ./${STAGE:-production}.env
"""
    )
    assert cf.env_files(doc, {"STAGE": "staging"}) == {".env.one": ["one"], ".envs/.production/.django": ["two"], "staging.env": ["two"]}


def test_compose_tags_and_bad_files():
    doc = cf.parse("services:\n  django:\n    ports: !reset []\n    environment: !override\n      A: b\n")
    assert cf.services(doc)["django"] == {"ports": [], "environment": {"A": "b"}}
    with pytest.raises(ValueError, match=r"is not valid YAML \(line 3\)"):
        cf.parse("services:\n  django: [\n")
    with pytest.raises(ValueError, match="not a compose file"):
        cf.parse("- just a list\n")


def test_django_service_by_command_when_not_named_django():
    doc = cf.parse(
        """
services:
  worker:
    command: celery -A shop worker
  web:
    command: gunicorn shop.wsgi
  db:
    image: postgres
"""
    )
    assert cf.django_service(doc) == "web"
    assert cf.django_service(cf.parse("services:\n  app:\n    image: x\n")) == "app"
    assert cf.django_service(cf.parse("services:\n  db:\n    image: postgres\n")) is None


def test_healthcheck_forms():
    assert cf.healthcheck_path({"healthcheck": {"test": "curl -fsS http://localhost:8000/ht/ || exit 1"}}) == "/ht/"
    assert cf.healthcheck_path({"healthcheck": {"test": ["CMD", "wget", "-q", "http://127.0.0.1:5000/healthz"]}}) == "/healthz"
    assert cf.healthcheck_path({"healthcheck": {"test": ["CMD", "pg_isready"]}}) is None
    assert cf.healthcheck_path({"healthcheck": {"test": "curl http://localhost:8000/"}}) is None


def test_dotenv():
    text = '# ports\nDJANGO_PUBLISHED_PORT=8123\nexport NAME="my shop"\nEMPTY=\nNOTE=a # comment\nbroken line\n'
    assert cf.parse_dotenv(text) == {"DJANGO_PUBLISHED_PORT": "8123", "NAME": "my shop", "EMPTY": "", "NOTE": "a"}
