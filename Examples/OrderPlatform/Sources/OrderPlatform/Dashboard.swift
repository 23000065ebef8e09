import AsyncHTTPClient
import Foundation
import Hummingbird
import NIOCore

/// The operations team's live revenue dashboard: a page that reads the seed's `revenue_dashboard` pipe every
/// second (through `/revenue.json`, fetched here from Keel's `/v0/pipes/revenue_dashboard.json`, so the page needs
/// no cross-origin access) and draws it. Plain HTML, CSS and a few lines of script: no packages.
enum Dashboard {
    static func router(ingress: String) -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: page))
            )
        }
        router.get("revenue.json") { _, _ in
            var request = HTTPClientRequest(url: "\(ingress)/v0/pipes/revenue_dashboard.json")
            request.method = .GET
            do {
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
                let body = try await response.body.collect(upTo: 4 << 20)
                return Response(
                    status: .init(code: Int(response.status.code)),
                    headers: [.contentType: "application/json", .cacheControl: "no-store"],
                    body: ResponseBody(byteBuffer: body)
                )
            } catch {
                return Response(
                    status: .serviceUnavailable,
                    headers: [.contentType: "application/json"],
                    body: ResponseBody(byteBuffer: ByteBuffer(string: #"{"error": "Keel's ingress did not answer"}"#))
                )
            }
        }
        return router
    }

    static let page = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>Revenue — order platform</title>
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <style>
          body { font-family: system-ui, sans-serif; margin: 2rem; color: #1d2330; background: #fafbfc; }
          h1 { font-size: 1.4rem; margin: 0 0 1rem; }
          .figures { display: flex; gap: 2rem; margin-bottom: 1.5rem; }
          .figure { background: #fff; border: 1px solid #e2e6ec; border-radius: 8px; padding: 1rem 1.5rem; min-width: 10rem; }
          .figure b { display: block; font-size: 1.8rem; }
          .figure span { color: #5b6577; font-size: .85rem; }
          svg { background: #fff; border: 1px solid #e2e6ec; border-radius: 8px; }
          #status { color: #5b6577; font-size: .85rem; margin-top: .5rem; }
        </style></head>
        <body>
        <h1>Revenue, last 24 hours <small>(<code>GET /v0/pipes/revenue_dashboard.json</code>, every second)</small></h1>
        <div class="figures">
          <div class="figure"><b id="orders">–</b><span>orders</span></div>
          <div class="figure"><b id="revenue">–</b><span>revenue (USD)</span></div>
          <div class="figure"><b id="average">–</b><span>average order (USD)</span></div>
        </div>
        <svg id="chart" width="900" height="260" role="img" aria-label="revenue per hour"></svg>
        <div id="status">loading…</div>
        <script>
        const svgNS = "http://www.w3.org/2000/svg";
        function el(name, attributes, text) {
          const node = document.createElementNS(svgNS, name);
          for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
          if (text !== undefined) node.textContent = text;
          return node;
        }
        async function refresh() {
          try {
            const answer = await fetch("revenue.json", { cache: "no-store" });
            const result = await answer.json();
            const rows = (result.data || []).slice().reverse();
            const orders = rows.reduce((sum, row) => sum + Number(row.order_count), 0);
            const revenue = rows.reduce((sum, row) => sum + Number(row.revenue_usd), 0);
            document.getElementById("orders").textContent = orders.toLocaleString();
            document.getElementById("revenue").textContent = revenue.toLocaleString(undefined, { maximumFractionDigits: 2 });
            document.getElementById("average").textContent = orders ? (revenue / orders).toFixed(2) : "–";
            const chart = document.getElementById("chart");
            chart.replaceChildren();
            const top = Math.max(1, ...rows.map(row => Number(row.revenue_usd)));
            const width = 900, height = 260, left = 50, bottom = 30;
            const bar = Math.min(60, (width - left - 10) / Math.max(1, rows.length));
            rows.forEach((row, index) => {
              const value = Number(row.revenue_usd);
              const h = value / top * (height - bottom - 20);
              const x = left + index * bar;
              chart.append(el("rect", { x: x + 2, y: height - bottom - h, width: bar - 4, height: h, fill: "#2f6fd6" }));
              chart.append(el("text", { x: x + 2, y: height - 10, "font-size": 10 }, String(row.hour).slice(11, 16)));
            });
            chart.append(el("text", { x: 4, y: 14, "font-size": 11 }, top.toFixed(0) + " USD"));
            document.getElementById("status").textContent =
              "updated " + new Date().toLocaleTimeString() + " · query " + (result.statistics ? (result.statistics.elapsed * 1000).toFixed(1) + " ms" : "");
          } catch (error) {
            document.getElementById("status").textContent = "no answer: " + error;
          }
        }
        refresh();
        setInterval(refresh, 1000);
        </script>
        </body></html>
        """
}
