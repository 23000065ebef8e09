import GRDB
import KeelStore

extension StoreError {
    /// Turns whatever GRDB or SQLite threw into a code the engine can act on and a message that names the file and
    /// says what to do. A `StoreError` thrown from inside a transaction passes through unchanged.
    init(mapping error: any Error, path: String) {
        switch error {
        case let error as StoreError:
            self = error
        case let error as DatabaseError:
            self.init(sqlite: error, path: path)
        case is CancellationError:
            self.init(.io, "the operation on \(path) was cancelled before it committed; nothing of it was stored")
        case let error as RowDecodingError:
            self.init(.corrupt, "a row of \(path) cannot be read (\(error)); another program changed the file")
        default:
            self.init(.io, "the database \(path) failed: \(error)")
        }
    }

    private init(sqlite error: DatabaseError, path: String) {
        let sqlite = "(SQLite: \(error.message ?? "\(error.resultCode)"))"
        switch error.resultCode {
        case .SQLITE_FULL:
            self.init(
                .diskFull,
                "the disk holding \(path) is full (or the database reached its size limit); free space and retry "
                    + "— nothing of this batch was stored \(sqlite)"
            )
        case .SQLITE_READONLY, .SQLITE_CANTOPEN, .SQLITE_PERM:
            self.init(
                .readOnly,
                "cannot write \(path): make the file and its directory writable by this process, or choose another "
                    + "data directory \(sqlite)"
            )
        case .SQLITE_CORRUPT, .SQLITE_NOTADB:
            self.init(
                .corrupt,
                "\(path) is damaged or is not a Keel database; restore it from a backup or move it aside \(sqlite)"
            )
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            self.init(
                .busy,
                "another process holds \(path); stop it or give this one its own data directory \(sqlite)"
            )
        case .SQLITE_CONSTRAINT:
            self.init(
                .constraint,
                "a batch broke a constraint of \(path), a bug in the caller; nothing of the batch was stored \(sqlite)"
            )
        default:
            self.init(.io, "SQLite failed on \(path): \(error.message ?? "\(error.resultCode)") (\(error.resultCode))")
        }
    }
}
