import Foundation

/// A directory under the system's temporary directory that is removed, with everything in it, on deinit.
final class TemporaryDirectory: Sendable {
    let url: URL

    init() {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("keel-sqlite-tests-\(UUID().uuidString)", isDirectory: true)
    }

    /// A path inside the directory that does not exist yet.
    func newSubdirectory() -> URL {
        url.appendingPathComponent(UUID().uuidString, isDirectory: true)
    }

    deinit {
        try? FileManager.default.removeItem(at: url)
    }
}
