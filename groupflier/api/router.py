"""API endpoints through a chain of their own (settings.API_MIDDLEWARE), found by a dict.

Every client polls, so an API call's fixed cost decides how many people a server carries
(bench/api). Django gives every request the whole of settings.MIDDLEWARE and walks the URL
patterns one by one. For an API endpoint most of that is the admin's and the web app's: the
session cookie, the logged-in user, flash messages, CSRF (endpoints are exempt: they take a
sid, not a cookie), the admin login's lock-out, static files, frame options. Together with
the walk over ~50 patterns that was 30-40 % of what a cheap endpoint cost.

``ApiRouterMiddleware`` comes right after the health check. A request whose path is an
endpoint's (as groupflier/urls.py declares it, with or without its trailing slash) goes
through API_MIDDLEWARE to the endpoint's view; anything else goes on down MIDDLEWARE to
Django's URL resolution, as before. The host is checked against ALLOWED_HOSTS for API calls
too (CommonMiddleware did that for them before).
"""

from django.conf import settings
from django.core.handlers.exception import convert_exception_to_response
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils.module_loading import import_string

from groupflier.api.endpoint import Endpoint


def endpoint_patterns(patterns, prefix: str = "/"):
    """(path, match) of every endpoint in the urlconf: its exact path, as a request has it,
    and what Django's resolver answers for it (an endpoint's path has no parameters)."""
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from endpoint_patterns(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            view_class = getattr(pattern.callback, "view_class", None)
            if isinstance(view_class, type) and issubclass(view_class, Endpoint):
                yield prefix + str(pattern.pattern), pattern.resolve(str(pattern.pattern))


class ApiRouterMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.endpoints = dict(endpoint_patterns(get_resolver().url_patterns))
        handler = convert_exception_to_response(self.call_endpoint)
        for path in reversed(settings.API_MIDDLEWARE):
            handler = convert_exception_to_response(import_string(path)(handler))
        self.api = handler

    def __call__(self, request):
        if request.path_info not in self.endpoints:
            return self.get_response(request)
        request.get_host()  # DisallowedHost: the 400 Django answers anywhere else
        return self.api(request)

    def call_endpoint(self, request):
        match = self.endpoints[request.path_info]
        request.resolver_match = match  # as the resolver sets it (the metrics read its route)
        return match.func(request)
