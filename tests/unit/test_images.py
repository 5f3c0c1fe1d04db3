"""steps/images.py's build group, decided from the compose configuration: which
services are built with django (labelled and tagged per release), which other builds
ride along, and the errors that say what to change."""

import pytest

from tasks.errors import ConfigError
from tasks.facts.compose import ComposeConfig, ServiceConfig
from tasks.steps.images import group_of

DJANGO_BUILD = (".", "./compose/production/django/Dockerfile")


def cookiecutter() -> ComposeConfig:
    services = {
        "django": ServiceConfig("django", "shop_production_django", DJANGO_BUILD),
        "celeryworker": ServiceConfig("celeryworker", "shop_production_celeryworker", DJANGO_BUILD),
        "celerybeat": ServiceConfig("celerybeat", "shop_production_celerybeat", DJANGO_BUILD),
        "postgres": ServiceConfig("postgres", "shop_production_postgres", (".", "./compose/production/postgres/Dockerfile")),
        "traefik": ServiceConfig("traefik", "shop_production_traefik", (".", "./compose/production/traefik/Dockerfile")),
        "redis": ServiceConfig("redis", "docker.io/redis:6", None),
    }
    return ComposeConfig("shop", services)


def test_the_services_sharing_djangos_build_are_the_group_and_their_images_are_kept_per_release():
    group = group_of(cookiecutter(), "django", "docker-compose.production.yml")
    assert group.services == ["celerybeat", "celeryworker", "django"]
    assert group.images == ["shop_production_celerybeat", "shop_production_celeryworker", "shop_production_django"]
    assert group.image_of["celeryworker"] == "shop_production_celeryworker"
    assert group.all_services == ["django", "celeryworker", "celerybeat", "postgres", "traefik", "redis"]
    assert group.project_name == "shop"


def test_other_services_with_a_build_of_their_own_are_built_too_but_not_kept_per_release():
    assert group_of(cookiecutter(), "django", "docker-compose.production.yml").other_builds == ["postgres", "traefik"]


@pytest.mark.parametrize(
    "django, expected",
    [
        pytest.param(
            "web", "docker-compose.production.yml has no service 'web' — set DEPLOY_DJANGO_SERVICE to one of: celerybeat, celeryworker, django, postgres, redis, traefik", id="no such service"
        ),
        pytest.param(
            "redis",
            "service 'redis' in docker-compose.production.yml has no build section — composeship builds the django image on the server from your code: give the service a `build:`",
            id="a pulled image",
        ),
    ],
)
def test_a_django_service_that_cannot_be_built_says_what_to_change(django, expected):
    with pytest.raises(ConfigError) as caught:
        group_of(cookiecutter(), django, "docker-compose.production.yml")
    assert str(caught.value) == expected  # the error line as the handler prints it
