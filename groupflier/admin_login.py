"""The client address django-axes counts failed admin logins by (AXES_CLIENT_IP_CALLABLE)."""

import ipaddress

from groupflier.api.endpoint import client_address


def client_ip(request) -> str | None:
    """The address the API's throttles count (GROUPFLIER_TRUSTED_PROXIES applies), or None
    when it is not an IP address (axes then counts the user name alone)."""
    address = client_address(request)
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None
