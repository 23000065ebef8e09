import Foundation

/// The datasources and pipes deployed together, read from Tinybird's project layout: `datasources/*.datasource`
/// and `pipes/*.pipe` (also `endpoints/*.pipe`, Tinybird Forward's folder). Reading checks each file and the
/// names across files; what an engine can run is checked by the engine (`AnalyticsEngine.validate`).
public struct AnalyticsCatalog: Sendable {
    public var datasources: [Datasource]
    public var pipes: [Pipe]

    public init(datasources: [Datasource] = [], pipes: [Pipe] = []) {
        self.datasources = datasources
        self.pipes = pipes
    }

    public func datasource(_ name: String) -> Datasource? { datasources.first { $0.name == name } }
    public func pipe(_ name: String) -> Pipe? { pipes.first { $0.name == name } }

    /// The largest file the catalog reads.
    public static let maxFileSize = 1 << 20

    /// Reads files given as paths relative to the project's folder and their text; other paths are ignored.
    public static func read(files: [String: String]) throws(AnalyticsFileError) -> AnalyticsCatalog {
        var catalog = AnalyticsCatalog()
        for path in files.keys.sorted() {
            guard let text = files[path] else { continue }
            let parts = path.split(separator: "/")
            guard parts.count == 2, let folder = parts.first, let file = parts.last else { continue }
            guard text.utf8.count <= maxFileSize else {
                throw AnalyticsFileError(file: path, line: 1, message: "the file is larger than 1 MiB")
            }
            if folder == "datasources", file.hasSuffix(".datasource") {
                let name = try Self.name(of: file, extension: ".datasource", path: path)
                catalog.datasources.append(try Datasource.parse(text, name: name, file: path))
            } else if folder == "pipes" || folder == "endpoints", file.hasSuffix(".pipe") {
                let name = try Self.name(of: file, extension: ".pipe", path: path)
                catalog.pipes.append(try Pipe.parse(text, name: name, file: path))
            }
        }
        try catalog.checkNames(files: files)
        return catalog
    }

    /// Reads a project folder (`DIR/datasources/*.datasource`, `DIR/pipes/*.pipe`, `DIR/endpoints/*.pipe`).
    public static func files(inDirectory directory: String) throws(AnalyticsFileError) -> [String: String] {
        var files: [String: String] = [:]
        let manager = FileManager.default
        for folder in ["datasources", "pipes", "endpoints"] {
            let path = (directory as NSString).appendingPathComponent(folder)
            guard let names = try? manager.contentsOfDirectory(atPath: path) else { continue }
            for name in names where name.hasSuffix(".datasource") || name.hasSuffix(".pipe") {
                let file = (path as NSString).appendingPathComponent(name)
                guard let data = manager.contents(atPath: file) else {
                    throw AnalyticsFileError(file: "\(folder)/\(name)", line: 1, message: "cannot be read")
                }
                guard let text = String(data: data, encoding: .utf8) else {
                    throw AnalyticsFileError(file: "\(folder)/\(name)", line: 1, message: "is not UTF-8 text")
                }
                files["\(folder)/\(name)"] = text
            }
        }
        return files
    }

    private static func name(
        of file: Substring,
        extension suffix: String,
        path: String
    ) throws(AnalyticsFileError)
        -> String
    {
        let name = file.dropLast(suffix.count)
        guard !name.isEmpty, name.count <= 128, name.first?.isNumber == false,
            name.allSatisfy({ ($0.isASCII && ($0.isLetter || $0.isNumber)) || $0 == "_" })
        else {
            throw AnalyticsFileError(
                file: path,
                line: 1,
                message: "'\(name)' is not a name Keel takes: ASCII letters, digits and _, not starting with a digit"
            )
        }
        return String(name)
    }

    /// Names are unique across datasources and pipes (as in Tinybird); a quarantine table's name is taken.
    private func checkNames(files: [String: String]) throws(AnalyticsFileError) {
        var seen: [String: String] = [:]
        func file(_ name: String, _ kind: String) -> String {
            files.keys.first { $0.hasSuffix("/\(name).\(kind)") } ?? "\(name).\(kind)"
        }
        for datasource in datasources {
            let path = file(datasource.name, "datasource")
            if datasource.name.hasSuffix("_quarantine") {
                throw AnalyticsFileError(
                    file: path,
                    line: 1,
                    message: "names ending in _quarantine are kept for the quarantine tables of datasources"
                )
            }
            if datasource.name.lowercased().hasPrefix("_keel") || datasource.name.lowercased() == "keel_ingest_keys" {
                throw AnalyticsFileError(
                    file: path,
                    line: 1,
                    message: "names starting with _keel, and keel_ingest_keys, are Keel's own"
                )
            }
            // SQLite's table names ignore case: two datasources must differ in more than case.
            if let other = seen[datasource.name.lowercased()] {
                throw AnalyticsFileError(
                    file: path,
                    line: 1,
                    message: "the name '\(datasource.name)' is also \(other) (names are compared without case)"
                )
            }
            if let column = datasource.columns.first(where: { $0.name.hasPrefix("_keel") }) {
                throw AnalyticsFileError(
                    file: path,
                    line: 1,
                    message: "column `\(column.name)`: names starting with _keel are Keel's own"
                )
            }
            seen[datasource.name.lowercased()] = path
        }
        for pipe in pipes {
            let path = file(pipe.name, "pipe")
            if let other = seen[pipe.name.lowercased()] {
                throw AnalyticsFileError(
                    file: path,
                    line: 1,
                    message: "the name '\(pipe.name)' is also \(other); datasources and pipes need distinct names"
                )
            }
            seen[pipe.name.lowercased()] = path
            for node in pipe.nodes where datasources.contains(where: { $0.name == node.name }) {
                throw AnalyticsFileError(
                    file: path,
                    line: node.line,
                    message: "NODE \(node.name) has the name of a datasource, which it would hide; rename it"
                )
            }
        }
    }
}
