from tasks.commands import git, host, images
from tasks.executor import render


def test_git_builders():
    assert git.fetch() == ["git", "fetch", "--quiet", "--prune", "--tags", "--force", "origin"]
    assert git.resolve("refs/tags/v1.0") == ["git", "rev-parse", "--verify", "--quiet", "refs/tags/v1.0^{commit}"]
    assert git.checkout("abc123") == ["git", "checkout", "--quiet", "--detach", "abc123"]
    assert git.has_file("abc123", "docker-compose.production.yml") == ["git", "cat-file", "-e", "abc123:docker-compose.production.yml"]
    assert git.init("/srv/app") == ["git", "init", "-q", "--", "/srv/app"]
    assert git.status() == ["git", "status", "--porcelain", "--untracked-files=normal"]


def test_origin_url_is_an_argument_not_script_text():
    argv = git.add_origin("https://example.com/x.git; rm -rf /")
    assert argv[:2] == ["sh", "-c"] and argv[-1] == "https://example.com/x.git; rm -rf /"
    assert "rm -rf" not in argv[2]
    assert render(argv) == "sh -c 'git remote get-url origin >/dev/null 2>&1 || git remote add origin \"$0\"' 'https://example.com/x.git; rm -rf /'"


def test_lock_builders_pass_values_as_arguments():
    argv = host.take_lock("/srv/app/.git/composeship", "/srv/app/.git/composeship/lock", ["user=a", "message=it's $(bad)"])
    assert argv[0:2] == ["sh", "-c"]
    assert argv[3:] == ["/srv/app/.git/composeship/lock/info", "/srv/app/.git/composeship", "/srv/app/.git/composeship/lock", "user=a", "message=it's $(bad)"]
    assert "$(bad)" not in argv[2]
    assert host.read_lock("/l") == ["cat", "/l/info"]
    assert host.drop_lock("/l") == ["rm", "-rf", "--", "/l"]


def test_append_line_and_http_status():
    assert host.append_line("/s/releases.log", '{"a": 1}')[3:] == ["/s/releases.log", '{"a": 1}']
    assert host.http_status("http://127.0.0.1:8000/health/") == [
        "curl", "--silent", "--show-error", "--output", "/dev/null", "--write-out", "%{http_code}", "--max-time", "5", "http://127.0.0.1:8000/health/",
    ]
    assert host.free_disk("/srv/app")[-1] == "/srv/app"


def test_release_tags():
    assert images.release_tag("example_production_django", "0123456789abcdef") == "example_production_django:0123456789ab"
    assert images.release_tag("registry:5000/team/app:prod", "0123456789abcdef") == "registry:5000/team/app:0123456789ab"
    assert images.release_tag("registry:5000/app", "0123456789abcdef") == "registry:5000/app:0123456789ab"
    assert images.tag("a:1", "a:latest") == ["docker", "tag", "a:1", "a:latest"]
    assert images.image_id("a") == ["docker", "image", "inspect", "--format", "{{.Id}}", "a"]
