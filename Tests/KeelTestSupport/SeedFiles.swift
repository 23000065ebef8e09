import Foundation

/// The seed's Tinybird files, verbatim, as `Examples/Analytics` holds them: the tests read the example, so
/// there is one copy of them in the repository.
public enum SeedFiles {
    /// `tinybird/datasources/orders.datasource`.
    public static let orders = read("datasources/orders.datasource")
    /// `tinybird/pipes/revenue_dashboard.pipe`.
    public static let revenueDashboard = read("pipes/revenue_dashboard.pipe")

    private static func read(_ path: String) -> String {
        let url = ClickHouseTestServer.packageRoot.appendingPathComponent("Examples/Analytics/\(path)")
        // A missing file makes every test that parses it fail, naming the file.
        return (try? String(contentsOf: url, encoding: .utf8)) ?? "missing: \(url.path)"
    }
}
