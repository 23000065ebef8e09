extension Console {
    /// `/ui/app.js`: the console, a single page over the admin API (same origin). Everything it shows is put in
    /// the page as text nodes (`el`, `textContent`), never as HTML, so a key or a value holding markup is shown,
    /// not run; the Content-Security-Policy allows this script only.
    static let script = #"""
        "use strict";

        const api = {
          async call(method, path, body) {
            const options = { method, headers: {} };
            const token = sessionStorage.getItem("keel-token");
            if (token) options.headers["authorization"] = `Bearer ${token}`;
            if (body !== undefined) {
              options.headers["content-type"] = "application/json";
              options.body = JSON.stringify(body);
            }
            const response = await fetch(path, options);
            const text = await response.text();
            let json = null;
            try { json = text ? JSON.parse(text) : null; } catch (_) { json = null; }
            if (!response.ok) {
              const error = new Error((json && json.message) || `${method} ${path}: HTTP ${response.status}`);
              error.status = response.status;
              throw error;
            }
            return json;
          },
          get(path) { return this.call("GET", path); },
          async query(sql) {
            const answer = await this.call("POST", "/query", { query: sql });
            return { columns: answer.columns || [], rows: answer.rows || [] };
          },
        };

        /// An element with attributes (on…: listeners) and children (strings become text nodes).
        function el(tag, attributes, ...children) {
          const node = document.createElement(tag);
          for (const [name, value] of Object.entries(attributes || {})) {
            if (value === undefined || value === null || value === false) continue;
            if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
            else if (name === "className") node.className = value;
            else node.setAttribute(name, value === true ? "" : String(value));
          }
          for (const child of children.flat()) {
            if (child === undefined || child === null || child === false) continue;
            node.append(child instanceof Node ? child : document.createTextNode(String(child)));
          }
          return node;
        }

        const sqlString = (text) => "'" + String(text).replaceAll("'", "''") + "'";
        const main = () => document.getElementById("main");
        const text = (value) => (value === undefined || value === null ? "" : String(value));
        const badge = (status) => el("span", { className: `badge ${status}` }, status);
        const link = (hash, label) => el("a", { href: hash }, label);

        function show(...nodes) {
          main().replaceChildren(...nodes);
        }

        function errorBox(error) {
          return el("div", { className: "error", role: "alert" }, error.message || String(error));
        }

        function table(columns, rows, render) {
          return el("table", {},
            el("thead", {}, el("tr", {}, columns.map((column) => el("th", {}, column)))),
            el("tbody", {}, rows.map(render)));
        }

        function parseHash() {
          const hash = location.hash.replace(/^#/, "") || "/";
          const [path, search] = hash.split("?");
          return { path, params: new URLSearchParams(search || "") };
        }

        // MARK: - Overview: services, handlers, deployments

        async function overview() {
          const [services, deployments] = await Promise.all([api.get("/services"), api.get("/deployments")]);
          const result = el("div", { id: "register-result" });
          const uri = el("input", { name: "uri", placeholder: "http://localhost:9080", size: 40, required: true });
          const register = el("form", { className: "bar", onsubmit: async (event) => {
            event.preventDefault();
            result.replaceChildren();
            try {
              const answer = await api.call("POST", "/deployments", { uri: uri.value });
              result.append(el("p", { className: "note" }, `registered ${answer.id}: ${answer.services.map((s) => s.name).join(", ")}`));
              setTimeout(route, 600);
            } catch (error) { result.append(errorBox(error)); }
          } }, el("label", {}, "Endpoint URI", uri), el("button", { className: "primary", type: "submit" }, "Register deployment"));
          show(
            el("h1", {}, "Services"),
            table(["Service", "Type", "Handlers", "Deployment"], services.services, (service) => el("tr", { "data-service": service.name },
              el("td", {}, service.ty === "Service" ? service.name : link(`#/state?service=${encodeURIComponent(service.name)}`, service.name)),
              el("td", {}, service.ty),
              el("td", {}, service.handlers.map((handler) => `${handler.name}${handler.ty ? ` (${handler.ty.toLowerCase()})` : ""}`).join(", ")),
              el("td", { className: "mono" }, service.deployment_id))),
            el("h2", {}, "Deployments"),
            table(["Id", "Endpoint", "Created", "Services"], deployments.deployments, (deployment) => el("tr", {},
              el("td", { className: "mono" }, deployment.id), el("td", { className: "mono" }, deployment.uri),
              el("td", {}, deployment.created_at), el("td", {}, deployment.services.map((s) => s.name).join(", ")))),
            el("h2", {}, "Register a deployment"), register, result);
        }

        // MARK: - Invocations

        const actionsFor = {
          cancel: (status) => status !== "completed",
          kill: (status) => status !== "completed",
          pause: (status) => !["completed", "paused"].includes(status),
          resume: (status) => status === "paused",
          purge: (status) => status === "completed",
        };

        async function act(operation, ids) {
          if (!confirm(`${operation} ${ids.length === 1 ? ids[0] : `${ids.length} invocations`}?`)) return;
          const failures = [];
          for (const id of ids) {
            try { await api.call("PATCH", `/invocations/${encodeURIComponent(id)}/${operation}`); }
            catch (error) { failures.push(`${id}: ${error.message}`); }
          }
          if (failures.length) alert(failures.join("\n"));
          setTimeout(route, 300);
        }

        function actionButtons(id, status) {
          return Object.keys(actionsFor).map((operation) => el("button", {
            type: "button", "data-action": operation, disabled: !actionsFor[operation](status),
            className: operation === "kill" || operation === "purge" ? "danger" : "",
            onclick: () => act(operation, [id]),
          }, operation));
        }

        async function invocations(params) {
          const field = (name, label, placeholder) => el("label", {}, label,
            el("input", { name, value: params.get(name) || "", placeholder, size: 14 }));
          const statusSelect = el("select", { name: "status" }, el("option", { value: "" }, "unfinished"),
            ["all", "pending", "scheduled", "ready", "running", "backing-off", "suspended", "paused", "completed"]
              .map((status) => el("option", { value: status, selected: params.get("status") === status }, status)));
          const filters = el("form", { className: "bar", onsubmit: (event) => {
            event.preventDefault();
            const next = new URLSearchParams();
            for (const [name, value] of new FormData(filters)) if (value) next.set(name, value);
            location.hash = `#/invocations?${next}`;
          } }, field("service", "Service", "Cart"), field("handler", "Handler", "checkout"), field("key", "Key", ""),
            el("label", {}, "Status", statusSelect), el("button", { className: "primary", type: "submit" }, "Filter"));

          const conditions = [];
          if (params.get("service")) conditions.push(`target_service_name = ${sqlString(params.get("service"))}`);
          if (params.get("handler")) conditions.push(`target_handler_name = ${sqlString(params.get("handler"))}`);
          if (params.get("key")) conditions.push(`target_service_key = ${sqlString(params.get("key"))}`);
          const status = params.get("status") || "";
          if (status && status !== "all") conditions.push(`status = ${sqlString(status)}`);
          if (!status) conditions.push("status <> 'completed'");
          const where = conditions.length ? ` WHERE ${conditions.join(" AND ")}` : "";
          const answer = await api.query(`SELECT id, target, status, retry_count, created_at, completion_failure, last_failure FROM sys_invocation${where} ORDER BY created_at DESC LIMIT 200`);

          const selected = new Set();
          const bulk = el("div", { className: "toolbar" }, el("span", { className: "note" }, `${answer.rows.length} invocations`),
            ...Object.keys(actionsFor).map((operation) => el("button", { type: "button", "data-bulk": operation,
              onclick: () => selected.size && act(operation, [...selected]) }, `${operation} selected`)));
          show(el("h1", {}, "Invocations"), filters, bulk,
            table(["", "Id", "Target", "Status", "Retries", "Created", "Failure", "Actions"], answer.rows, (row) => el("tr", { "data-id": row.id },
              el("td", {}, el("input", { type: "checkbox", onchange: (event) => event.target.checked ? selected.add(row.id) : selected.delete(row.id) })),
              el("td", { className: "mono" }, link(`#/invocation/${encodeURIComponent(row.id)}`, row.id)),
              el("td", {}, row.target), el("td", { className: "status" }, badge(row.status)),
              el("td", {}, text(row.retry_count)), el("td", {}, text(row.created_at)),
              el("td", { className: "mono" }, text(row.completion_failure || row.last_failure)),
              el("td", { className: "actions" }, actionButtons(row.id, row.status)))));
        }

        async function invocation(id) {
          const [summary, journal] = await Promise.all([
            api.query(`SELECT * FROM sys_invocation WHERE id = ${sqlString(id)}`),
            api.query(`SELECT "index", entry_type, name, completed, invoked_id, invoked_target, sleep_wakeup_at, promise_name, value_utf8, failure FROM sys_journal WHERE id = ${sqlString(id)} ORDER BY "index"`),
          ]);
          const row = summary.rows[0];
          if (!row) {
            show(el("h1", {}, "Invocation"), errorBox(new Error(`invocation ${id} not found (unknown, or purged)`)));
            return;
          }
          const facts = [["Target", row.target], ["Status", badge(row.status)], ["Created", row.created_at],
            ["Modified", row.modified_at], ["Scheduled for", row.scheduled_start_at], ["Completed", row.completed_at],
            ["Retries", row.retry_count], ["Last failure", row.last_failure], ["Deployment", row.pinned_deployment_id],
            ["Idempotency key", row.idempotency_key], ["Result", row.completion_value_utf8], ["Failure", row.completion_failure]]
            .filter(([, value]) => value !== undefined && value !== null && value !== "" && !(value === 0));
          const entries = journal.rows.map((entry) => {
            const details = [["invoked_target", "→ "], ["invoked_id", "→ "], ["sleep_wakeup_at", "until "],
              ["promise_name", "promise "], ["failure", "failed "], ["value_utf8", "= "]]
              .filter(([key]) => entry[key] !== undefined).map(([key, prefix]) => prefix + entry[key]).join("  ");
            return el("li", { className: entry.completed === 0 ? "pending" : "done", "data-index": entry.index },
              el("span", { className: "index" }, text(entry.index)), el("span", { className: "mark" }, entry.completed === 0 ? "…" : "✓"),
              el("span", {}, entry.entry_type, entry.name ? ` “${entry.name}”` : ""), el("span", { className: "detail" }, details));
          });
          show(el("h1", { className: "mono" }, id),
            el("div", { className: "toolbar" }, actionButtons(id, row.status)),
            el("dl", { className: "summary" }, facts.flatMap(([label, value]) => [el("dt", {}, label), el("dd", {}, value)])),
            el("h2", {}, "Journal"),
            entries.length ? el("ol", { className: "timeline" }, entries)
              : el("p", { className: "note" }, row.status === "completed" ? "The journal was dropped when the invocation completed." : "No entries yet."));
        }

        // MARK: - State

        async function state(params) {
          const service = params.get("service") || "";
          const key = params.get("key");
          const services = (await api.get("/services")).services.filter((s) => s.ty !== "Service");
          const picker = el("form", { className: "bar", onsubmit: (event) => {
            event.preventDefault();
            const data = new FormData(picker);
            location.hash = `#/state?service=${encodeURIComponent(data.get("service"))}` + (data.get("key") ? `&key=${encodeURIComponent(data.get("key"))}` : "");
          } }, el("label", {}, "Object or workflow", el("select", { name: "service" },
              services.map((s) => el("option", { value: s.name, selected: s.name === service }, s.name)))),
            el("label", {}, "Key", el("input", { name: "key", value: key || "", size: 24 })),
            el("button", { className: "primary", type: "submit" }, "Show"));
          const parts = [el("h1", {}, "State"), picker];
          if (service && key !== null) {
            const answer = await api.query(`SELECT key, value_utf8, value FROM state WHERE service_name = ${sqlString(service)} AND service_key = ${sqlString(key)} ORDER BY key`);
            parts.push(el("h2", {}, `${service} / ${key}`), answer.rows.length
              ? table(["Name", "Value"], answer.rows, (row) => el("tr", { "data-name": row.key },
                el("td", { className: "mono" }, text(row.key)),
                el("td", { className: "mono" }, row.value_utf8 !== undefined ? row.value_utf8 : `0x${text(row.value)}`)))
              : el("p", { className: "note" }, "No state."));
          } else if (service) {
            const keys = await api.query(`SELECT service_key, count(*) AS entries FROM state WHERE service_name = ${sqlString(service)} GROUP BY service_key ORDER BY service_key LIMIT 500`);
            parts.push(el("h2", {}, `Keys of ${service}`), table(["Key", "Entries"], keys.rows, (row) => el("tr", {},
              el("td", { className: "mono" }, link(`#/state?service=${encodeURIComponent(service)}&key=${encodeURIComponent(row.service_key)}`, row.service_key)),
              el("td", {}, text(row.entries)))));
          }
          show(...parts);
        }

        // MARK: - SQL

        async function sqlPage(params) {
          const input = el("textarea", { name: "query", spellcheck: "false" },
            params.get("q") || "SELECT id, target, status, created_at FROM sys_invocation ORDER BY created_at DESC LIMIT 20");
          const output = el("div", { id: "sql-result" });
          const run = async () => {
            output.replaceChildren(el("p", { className: "note" }, "running…"));
            const started = performance.now();
            try {
              const answer = await api.query(input.value);
              const took = Math.round(performance.now() - started);
              output.replaceChildren(el("p", { className: "note" }, `${answer.rows.length} rows in ${took} ms`),
                table(answer.columns, answer.rows, (row) => el("tr", {}, answer.columns.map((column) => el("td", { className: "mono" }, text(row[column]))))));
            } catch (error) { output.replaceChildren(errorBox(error)); }
          };
          input.addEventListener("keydown", (event) => { if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) run(); });
          show(el("h1", {}, "SQL"),
            el("p", { className: "note" }, "Read-only SQL over sys_invocation, sys_journal, state, sys_keyed_service_status, sys_inbox, sys_idempotency, sys_promise, sys_service and sys_deployment (Ctrl+Enter runs it)."),
            input, el("div", { className: "toolbar" }, el("button", { className: "primary", type: "button", onclick: run }, "Run")), output);
          if (params.get("q")) run();
        }

        // MARK: - Schedules, subscriptions, analytics

        async function schedules() {
          const answer = await api.get("/schedules");
          const spec = (s) => [s.spec.cron, ...(s.spec.interval || []).map((i) => `every ${i.every}`)].filter(Boolean).join(", ");
          show(el("h1", {}, "Schedules"), answer.schedules.length
            ? table(["Id", "Spec", "Sink", "Paused", "Runs", "Next"], answer.schedules, (s) => el("tr", {},
              el("td", { className: "mono" }, text(s.id)), el("td", { className: "mono" }, spec(s)),
              el("td", { className: "mono" }, text(s.action.sink)), el("td", {}, text(s.state.paused)),
              el("td", {}, text(s.info.actionCount)), el("td", {}, text((s.info.futureActionTimes || [])[0]))))
            : el("p", { className: "note" }, "No schedules."));
        }

        async function subscriptions() {
          const answer = await api.get("/subscriptions");
          show(el("h1", {}, "Subscriptions"), answer.subscriptions.length
            ? table(["Id", "Source", "Sink", "Options"], answer.subscriptions, (s) => el("tr", {},
              el("td", { className: "mono" }, text(s.id)), el("td", { className: "mono" }, text(s.source)),
              el("td", { className: "mono" }, text(s.sink)), el("td", { className: "mono" }, JSON.stringify(s.options || {}))))
            : el("p", { className: "note" }, "No subscriptions."));
        }

        async function analytics() {
          let answer;
          try { answer = await api.get("/analytics"); }
          catch (error) { show(el("h1", {}, "Analytics"), el("p", { className: "note" }, error.message)); return; }
          show(el("h1", {}, "Analytics"), el("p", { className: "note" }, `Engine: ${answer.engine}`),
            el("h2", {}, "Datasources"), el("ul", {}, answer.datasources.map((name) => el("li", { className: "mono" }, name))),
            el("h2", {}, "Pipes"), el("ul", {}, answer.pipes.map((name) => el("li", { className: "mono" }, `${name} — GET :8080/v0/pipes/${name}.json`))));
        }

        // MARK: - Routing

        const views = [
          ["/", "Overview", () => overview()],
          ["/invocations", "Invocations", (match) => invocations(match.params)],
          ["/state", "State", (match) => state(match.params)],
          ["/sql", "SQL", (match) => sqlPage(match.params)],
          ["/schedules", "Schedules", () => schedules()],
          ["/subscriptions", "Subscriptions", () => subscriptions()],
          ["/analytics", "Analytics", () => analytics()],
        ];

        async function route() {
          const match = parseHash();
          const nav = document.getElementById("nav");
          nav.replaceChildren(...views.map(([path, label]) => el("a", { href: `#${path}`,
            className: match.path === path || (path === "/invocations" && match.path.startsWith("/invocation/")) ? "current" : "" }, label)));
          try {
            if (match.path.startsWith("/invocation/")) {
              await invocation(decodeURIComponent(match.path.slice("/invocation/".length)));
            } else {
              const view = views.find(([path]) => path === match.path) || views[0];
              await view[2](match);
            }
            document.body.dataset.ready = match.path;
          } catch (error) {
            if (error.status === 401) {
              askForToken(error);
              document.body.dataset.ready = "token";
              return;
            }
            show(errorBox(error));
            document.body.dataset.ready = "error";
          }
        }

        /// The admin API wants a token (keel serve --admin-token-file): ask for it, keep it for this tab only.
        function askForToken(error) {
          const input = el("input", { type: "password", name: "token", size: 40, autocomplete: "off" });
          const form = el("form", { className: "bar", onsubmit: (event) => {
            event.preventDefault();
            sessionStorage.setItem("keel-token", input.value.trim());
            route();
          } }, el("label", {}, "Admin token", input), el("button", { className: "primary", type: "submit" }, "Use token"));
          show(el("h1", {}, "Sign in"), el("p", { className: "note" },
            sessionStorage.getItem("keel-token") ? "That token was not accepted." : error.message), form);
          sessionStorage.removeItem("keel-token");
          input.focus();
        }

        window.addEventListener("hashchange", route);
        window.addEventListener("DOMContentLoaded", route);
        """#
}
