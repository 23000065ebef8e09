/// The OpenAPI description of the admin API that `GET /openapi` serves.
enum AdminOpenAPI {
    static let document = """
        {
          "openapi": "3.0.3",
          "info": {"title": "Keel admin API", "version": "\(KeelVersion.current)",
                   "description": "Restate-compatible admin API: deployments, services, invocations."},
          "paths": {
            "/health": {"get": {"summary": "Ready to serve", "responses": {"200": {"description": "ready"}}}},
            "/cluster": {"get": {"summary": "The cluster on PostgreSQL: nodes, partition leases, epochs, expiry (404 on SQLite)", "responses": {"200": {"description": "leases", "content": {"application/json": {}}}, "404": {"description": "no cluster"}}}},
            "/version": {"get": {"summary": "Server and admin API versions", "responses": {"200": {"description": "versions", "content": {"application/json": {}}}}}},
            "/deployments": {
              "get": {"summary": "List deployments", "responses": {"200": {"description": "deployments", "content": {"application/json": {}}}}},
              "post": {"summary": "Discover and register an endpoint",
                       "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RegisterDeploymentRequest"}}}},
                       "responses": {"201": {"description": "registered"}, "200": {"description": "already registered, unchanged"},
                                     "400": {"description": "discovery failed; the message names the URI and the cause"},
                                     "409": {"description": "the URI is registered with other services; use force"}}}
            },
            "/deployments/{id}": {
              "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
              "get": {"summary": "One deployment", "responses": {"200": {"description": "deployment"}, "404": {"description": "unknown"}}},
              "delete": {"summary": "Stop routing new invocations to the deployment; pinned ones finish there",
                         "responses": {"202": {"description": "removed"}, "404": {"description": "unknown"}}}
            },
            "/services": {"get": {"summary": "List services", "responses": {"200": {"description": "services", "content": {"application/json": {}}}}}},
            "/services/{name}": {
              "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
              "get": {"summary": "One service", "responses": {"200": {"description": "service"}, "404": {"description": "unknown"}}}
            },
            "/services/{name}/handlers": {
              "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
              "get": {"summary": "A service's handlers", "responses": {"200": {"description": "handlers"}, "404": {"description": "unknown"}}}
            },
            "/invocations/{id}": {
              "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
              "get": {"summary": "Status, retries, last failure and result of an invocation",
                      "responses": {"200": {"description": "invocation"}, "404": {"description": "unknown or purged"}}},
              "delete": {"summary": "Older form of the operations below: ?mode=cancel|kill|purge (cancel by default)",
                         "responses": {"200": {"description": "done"}, "202": {"description": "cancel signalled"}}}
            },
            "/invocations/{id}/cancel": {
              "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
              "patch": {"summary": "Cancel cooperatively: the handler sees a terminal error (409) at its next await and runs its compensations",
                        "responses": {"202": {"description": "cancel signal appended"}, "200": {"description": "had not started; completed as canceled"},
                                      "404": {"description": "unknown"}, "409": {"description": "completed already"}}}
            },
            "/invocations/{id}/kill": {
              "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
              "patch": {"summary": "End at once with 409 killed, and the invocations it called, recursively",
                        "responses": {"200": {"description": "killed"}, "404": {"description": "unknown"}, "409": {"description": "completed already"}}}
            },
            "/invocations/{id}/pause": {
              "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
              "patch": {"summary": "Park a running or suspended invocation until it is resumed or killed; a running attempt is abandoned",
                        "responses": {"200": {"description": "paused"}, "404": {"description": "unknown"}, "409": {"description": "completed or not started"}}}
            },
            "/invocations/{id}/purge": {
              "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
              "patch": {"summary": "Forget a completed invocation",
                        "responses": {"200": {"description": "purged"}, "404": {"description": "unknown"}, "409": {"description": "not completed"}}}
            },
            "/invocations/{id}/resume": {
              "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}},
                             {"name": "deployment", "in": "query", "required": false, "schema": {"type": "string"}}],
              "patch": {"summary": "Resume a paused invocation, optionally on another deployment",
                        "responses": {"200": {"description": "resumed"}, "404": {"description": "unknown"}, "409": {"description": "not paused"}}}
            },
            "/subscriptions": {
              "post": {"summary": "Subscribe a handler to events (event://default/{pattern} to service://{service}/{handler}, option key)",
                       "responses": {"201": {"description": "created"}, "200": {"description": "an identical one exists"}, "400": {"description": "bad source or option"}, "404": {"description": "unknown sink"}}},
              "get": {"summary": "List subscriptions", "responses": {"200": {"description": "subscriptions", "content": {"application/json": {}}}}}
            },
            "/subscriptions/{id}": {
              "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
              "get": {"summary": "One subscription", "responses": {"200": {"description": "subscription"}, "404": {"description": "unknown"}}},
              "delete": {"summary": "Delete a subscription", "responses": {"202": {"description": "deleted"}, "404": {"description": "unknown"}}}
            },
            "/events/{id}": {
              "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
              "get": {"summary": "A published event and its deliveries", "responses": {"200": {"description": "event"}, "404": {"description": "unknown or expired"}}}
            },
            "/services/{service}/handlers/{handler}": {
              "parameters": [{"name": "service", "in": "path", "required": true, "schema": {"type": "string"}},
                             {"name": "handler", "in": "path", "required": true, "schema": {"type": "string"}}],
              "get": {"summary": "A handler's concurrency and rate limits in force", "responses": {"200": {"description": "limits"}, "404": {"description": "unknown"}}},
              "patch": {"summary": "Set a handler's limits at run time ({concurrency, rateLimits}; null goes back to the declaration)",
                        "responses": {"200": {"description": "the limits in force"}, "400": {"description": "a limit does not read"}, "404": {"description": "unknown"}}}
            },
            "/schedules": {
              "post": {"summary": "Create a schedule (Temporal's shape: id, spec {cron, interval, timeZone}, action {sink, key, input}, policies {overlap, catchupWindow}, state {paused, note})",
                       "responses": {"201": {"description": "created, with info"}, "400": {"description": "a field does not read (named in the message)"}, "404": {"description": "unknown sink"}, "409": {"description": "the id is taken"}}},
              "get": {"summary": "List schedules, each with its info", "responses": {"200": {"description": "schedules", "content": {"application/json": {}}}}}
            },
            "/schedules/{id}": {
              "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
              "get": {"summary": "A schedule with its counters, running and recent runs and next 10 times", "responses": {"200": {"description": "schedule"}, "404": {"description": "unknown"}}},
              "put": {"summary": "Replace a schedule's definition (progress kept)", "responses": {"200": {"description": "replaced"}, "400": {"description": "bad field"}, "404": {"description": "unknown"}}},
              "delete": {"summary": "Delete a schedule (running runs go on)", "responses": {"202": {"description": "deleted"}, "404": {"description": "unknown"}}}
            },
            "/schedules/{id}/{operation}": {
              "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}},
                             {"name": "operation", "in": "path", "required": true, "schema": {"type": "string", "enum": ["pause", "resume", "trigger"]}}],
              "patch": {"summary": "Pause, resume (missed ticks are not caught up) or trigger now (through the overlap policy)",
                        "responses": {"200": {"description": "the schedule"}, "404": {"description": "unknown schedule or operation"}}}
            },
            "/analytics": {"get": {"summary": "The analytics engine and the deployed datasources and pipes", "responses": {"200": {"description": "the deployment", "content": {"application/json": {}}}}}},
            "/analytics/deploy": {
              "post": {"summary": "Deploy Tinybird files (a files object: path to text, e.g. datasources/x.datasource, pipes/y.pipe), checked whole first; the set replaces the deployment",
                       "responses": {"200": {"description": "deployed"}, "400": {"description": "a file, token or pipe refused: file:line: reason"}, "409": {"description": "a datasource's columns changed"}}}
            },
            "/query": {
              "post": {"summary": "Read-only SQL over Restate's introspection tables (sys_invocation, sys_journal, state, sys_keyed_service_status, sys_inbox, sys_idempotency, sys_promise, sys_service, sys_deployment)",
                       "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["query"], "properties": {"query": {"type": "string"}}}}}},
                       "responses": {"200": {"description": "rows (objects; NULL columns left out, bytes as hex, times RFC 3339) and columns (the names in order)", "content": {"application/json": {}}},
                                     "400": {"description": "not read-only, invalid SQL, past the time limit or the row limit; the message says which"}}}
            },
            "/services/{service}/state": {
              "parameters": [{"name": "service", "in": "path", "required": true, "schema": {"type": "string"}}],
              "post": {"summary": "Replace an object's state: object_key, version (optional), new_state (name to byte array)",
                       "responses": {"200": {"description": "the new state's version"},
                                     "409": {"description": "the version is stale, or an invocation holds or waits for the object"}}}
            },
            "/openapi": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3"}}}}
          },
          "components": {
            "schemas": {
              "RegisterDeploymentRequest": {
                "type": "object", "required": ["uri"],
                "properties": {
                  "uri": {"type": "string", "example": "http://localhost:9080"},
                  "additional_headers": {"type": "object", "additionalProperties": {"type": "string"}},
                  "use_http_11": {"type": "boolean", "default": false},
                  "force": {"type": "boolean", "default": false},
                  "dry_run": {"type": "boolean", "default": false}
                }
              }
            }
          }
        }
        """
}
