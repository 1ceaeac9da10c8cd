# PLACEHOLDER: replaced by its owner; never committed as is.
from django.http import Http404

def export_csv(request, *args, **kwargs):
    raise Http404('not built yet')


def import_start(request, *args, **kwargs):
    raise Http404('not built yet')


def import_detail(request, *args, **kwargs):
    raise Http404('not built yet')


def import_progress(request, *args, **kwargs):
    raise Http404('not built yet')


def import_errors_csv(request, *args, **kwargs):
    raise Http404('not built yet')


