import GRDB
import KeelCore

extension SQLiteStore {
    /// Tuning for a store; `init()` gives the settings Keel runs with.
    public struct Configuration: Sendable, Hashable {
        /// How long a connection waits for another process's lock before failing with `.busy`. Default 5 s.
        public var busyTimeout: Duration

        /// Caps the database at this many pages (4 KiB each), so that it fails with `.diskFull` past it.
        ///
        /// Meant for tests that need a full disk without filling one. Default nil: no cap beyond SQLite's own.
        public var maxPageCount: Int?

        public init(busyTimeout: Duration = .seconds(5), maxPageCount: Int? = nil) {
            self.busyTimeout = busyTimeout
            self.maxPageCount = maxPageCount
        }

        var grdbConfiguration: GRDB.Configuration {
            var configuration = GRDB.Configuration()
            configuration.label = "Keel.SQLiteStore"
            configuration.journalMode = .wal
            configuration.busyMode = .timeout(busyTimeout.seconds)
            if let maxPageCount {
                configuration.prepareDatabase { db in
                    try db.execute(sql: "PRAGMA max_page_count = \(maxPageCount)")
                }
            }
            return configuration
        }
    }
}
