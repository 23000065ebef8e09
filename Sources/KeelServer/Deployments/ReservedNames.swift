/// Service names Keel keeps for itself: a service with one of them could be registered but never reached.
///
/// `/restate/…` is the ingress's own (health, attach, awakeables); `/api/…` and `/v0/…` are reserved for
/// triggers and analytics. The comparison ignores case, so that no service differs from a reserved path only
/// in its capitals.
enum ReservedNames {
    /// The reserved first path segments of the ingress, and what each is for.
    static let reserved: [(name: String, use: String)] = [
        ("restate", "the ingress's own paths (/restate/health, /restate/invocation/…, /restate/awakeables/…)"),
        ("api", "the ingress's /api/… paths (reserved for triggers)"),
        ("v0", "the ingress's /v0/… paths (reserved for analytics)"),
        ("keelevents", "the built-in service handlers call to publish events (KeelEvents/publish, ctx.publish)"),
    ]

    /// Why `serviceName` cannot be registered, or nil when it can.
    static func clash(serviceName: String) -> String? {
        let lowered = serviceName.lowercased()
        guard let entry = reserved.first(where: { $0.name == lowered }) else { return nil }
        return
            "the service name '\(serviceName)' is reserved: \(entry.name == "keelevents" ? "it is" : "/\(entry.name)/… is") \(entry.use), so the service could never be called; rename it"
    }
}
