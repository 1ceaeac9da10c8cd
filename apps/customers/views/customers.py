# PLACEHOLDER: replaced by its owner; never committed as is.
from django.http import Http404

def customer_list(request, *args, **kwargs):
    raise Http404('not built yet')


def customer_create(request, *args, **kwargs):
    raise Http404('not built yet')


def duplicates(request, *args, **kwargs):
    raise Http404('not built yet')


def customer_detail(request, *args, **kwargs):
    raise Http404('not built yet')


def customer_edit(request, *args, **kwargs):
    raise Http404('not built yet')


def timeline(request, *args, **kwargs):
    raise Http404('not built yet')


def note_add(request, *args, **kwargs):
    raise Http404('not built yet')


def contact_add(request, *args, **kwargs):
    raise Http404('not built yet')


def contact_consent(request, *args, **kwargs):
    raise Http404('not built yet')


def contact_remove(request, *args, **kwargs):
    raise Http404('not built yet')


def customer_merge(request, *args, **kwargs):
    raise Http404('not built yet')


def gdpr_export(request, *args, **kwargs):
    raise Http404('not built yet')


def customer_erase(request, *args, **kwargs):
    raise Http404('not built yet')


