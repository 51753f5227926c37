"""The OpenAPI 3 document, generated from the endpoints' own declarations.

Each endpoint's parameters, returned fields and error tokens are the ones the contract layer
enforces, so the document cannot drift from the behaviour (and schemathesis checks that).
"""

from drf_spectacular.openapi import AutoSchema

from groupflier.api.errors import ErrorType

# Building blocks for an endpoint's ``returns``.
STRING = {"type": "string"}
INTEGER = {"type": "integer"}
FLAG = {"type": "integer", "enum": [0, 1]}


def flag(value) -> int:
    """A flag as the API answers it: the integer 1 or 0 (SPEC §1)."""
    return 1 if value else 0


def nullable(schema: dict) -> dict:
    return {**schema, "nullable": True}


def array_of(items: dict) -> dict:
    return {"type": "array", "items": items}


def object_of(**properties) -> dict:
    return {"type": "object", "properties": properties, "required": list(properties)}


def error_schema(tokens) -> dict:
    return {
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": ["ERROR"]},
            "error_type": {"type": "string", "enum": [str(token) for token in tokens]},
            "error_subtype": {
                "description": "The offending value, the list of missing fields, or details"
            },
        },
        "required": ["status", "error_type"],
    }


def json_content(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


class EndpointSchema(AutoSchema):
    def get_operation(self, path, path_regex, path_prefix, method, registry):
        from groupflier.api.endpoint import Endpoint, SessionRule

        if not isinstance(self.view, Endpoint):
            return super().get_operation(path, path_regex, path_prefix, method, registry)
        endpoint = type(self.view)

        properties, required = {}, []
        for param in endpoint.all_params():
            properties.update(param.properties())
            required.extend(param.required_names())

        tokens = endpoint.error_types()
        description = endpoint.description or endpoint.summary
        if tokens:
            description += "\n\nError tokens: " + ", ".join(f"`{token}`" for token in tokens) + "."
        operation = {
            "operationId": f"{endpoint.path.replace('/', '_')}_{method.lower()}",
            "summary": endpoint.summary,
            "description": description,
            "tags": [endpoint.path.split("/")[0]],
        }
        if method.upper() == "GET":
            operation["parameters"] = [
                {"name": name, "in": "query", "required": name in required, "schema": schema}
                for name, schema in properties.items()
            ]
        elif properties:
            body = {"type": "object", "properties": properties, "required": required}
            operation["requestBody"] = {
                "required": bool(required),
                "content": {
                    "application/json": {"schema": body},
                    "application/x-www-form-urlencoded": {"schema": body},
                },
            }

        ok = {
            "type": "object",
            "properties": {
                "status": {"type": "string", "enum": ["OK"]},
                **endpoint.returns,
                **endpoint.optional_returns,
            },
            "required": ["status", *endpoint.returns],
        }
        responses = {
            "200": json_content(
                {"oneOf": [ok, error_schema(tokens)]} if tokens else ok,
                "`status` is OK with the fields below, or ERROR with a token",
            ),
            "400": json_content(
                error_schema([ErrorType.BAD_REQUEST]), "The body could not be read"
            ),
            "413": json_content(
                error_schema([ErrorType.REQUEST_TOO_LARGE]),
                "The body is over GROUPFLIER_MAX_BODY_BYTES",
            ),
        }
        if endpoint.session is SessionRule.REQUIRED:
            responses["401"] = json_content(
                error_schema([ErrorType.AUTHORIZATION_REQUIRED]),
                "The sid is missing, unknown, logged out or expired",
            )
        operation["responses"] = responses
        return operation


def only_api_endpoints(endpoints):
    """Document each GroupFlier endpoint once, at its path without the trailing slash."""
    from groupflier.api.endpoint import Endpoint

    return [
        (path, regex, method, callback)
        for path, regex, method, callback in endpoints
        if issubclass(getattr(callback, "cls", object), Endpoint) and not path.endswith("/")
    ]
