import KeelStore
import PostgresNIO

extension StoreError {
    /// Turns what postgres-nio threw into a code the engine can act on and a message that names the database
    /// (`url`, its password hidden) and the server's own reason. A `StoreError` passes through unchanged.
    init(postgres error: any Error, url: String) {
        switch error {
        case let error as StoreError:
            self = error
        case let error as PSQLError:
            self.init(psql: error, url: url)
        case is CancellationError:
            self.init(.io, "the operation on \(url) was cancelled before it committed; nothing of it was stored")
        case let error as PostgresDecodingError:
            self.init(
                .corrupt,
                "a row of \(url) cannot be read (\(String(reflecting: error))); another program changed it"
            )
        default:
            self.init(.io, "the database \(url) failed: \(error)")
        }
    }

    private init(psql error: PSQLError, url: String) {
        guard let server = error.serverInfo, let state = server[.sqlState] else {
            let cause = error.underlying.map { "\($0)" } ?? "\(error.code)"
            self.init(.io, "the connection to \(url) failed (\(error.code)): \(cause)")
            return
        }
        let reason = "(PostgreSQL \(state): \(server[.message] ?? "no message"))"
        switch state {
        case "53100":
            self.init(
                .diskFull,
                "the disk of the PostgreSQL server at \(url) is full; free space and retry — nothing of this batch "
                    + "was stored \(reason)"
            )
        case "25006", "42501":
            self.init(.readOnly, "cannot write \(url): give Keel's role a writable primary \(reason)")
        case "28000", "28P01":
            self.init(.io, "\(url) refused the credentials: check the user and password \(reason)")
        case "3D000":
            self.init(.io, "the database of \(url) does not exist: create it (createdb) first \(reason)")
        case "KL001":
            self.init(
                .fenced,
                "another node took this node's partitions on \(url); nothing of this batch was stored \(reason)"
            )
        case "KL002":
            self.init(
                .constraint,
                "a batch applied an outbox message twice on \(url); nothing of it was stored \(reason)"
            )
        case "40001", "40P01", "55P03":
            self.init(.busy, "\(url) aborted the transaction for a conflict; nothing of it was stored \(reason)")
        case _ where state.hasPrefix("23"):
            self.init(
                .constraint,
                "a batch broke a constraint of \(url), a bug in the caller; nothing of the batch was stored \(reason)"
            )
        case _ where state.hasPrefix("XX"):
            self.init(.corrupt, "the PostgreSQL server at \(url) reports damage \(reason)")
        default:
            self.init(.io, "PostgreSQL failed on \(url) \(reason)")
        }
    }
}
