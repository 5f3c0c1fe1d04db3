from django.conf import settings
from django.db import connection
from django.http import HttpResponse

from .models import Note

TEXT = "text/plain; charset=utf-8"


def index(request):
    return HttpResponse(f"notes: {Note.objects.count()}", content_type=TEXT)


def notes(request):
    """POST adds a note (a write through the running code); GET shows the newest ones
    with every column the model has (a read of each of them)."""
    if request.method == "POST":
        note = Note.objects.create(title=request.POST.get("title") or "a note")
        return HttpResponse(f"created {note.pk}", status=201, content_type=TEXT)
    rows = Note.objects.order_by("-pk").values()[:5]
    return HttpResponse("\n".join(str(row) for row in rows), content_type=TEXT)


def health(request):
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return HttpResponse(f"db error: {exc.__class__.__name__}\n", status=500, content_type=TEXT)
    return HttpResponse("ok", content_type=TEXT)


def version(request):
    # Read at request time so a deploy that swaps the code is visible without caching.
    text = (settings.BASE_DIR / "VERSION").read_text().strip()
    return HttpResponse(text, content_type=TEXT)
