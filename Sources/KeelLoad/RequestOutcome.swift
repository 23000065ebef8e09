/// How one request ended.
enum RequestOutcome: Sendable, Equatable {
    case success
    case failedStatus(String)
    case transportError(String)
}
