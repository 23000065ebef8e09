import ArgumentParser
import Foundation
import KeelEngine
import KeelStore

/// `keel state get|set|clear SERVICE KEY`: an object's (or workflow's) state.
struct State: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "state",
        abstract: "Read and edit the state of a virtual object or workflow.",
        subcommands: [Get.self, Set.self, Clear.self]
    )

    /// The object's state as stored (names and value bytes), read through `/query`, and its version.
    static func read(
        _ admin: AdminOptions,
        _ service: String,
        _ key: String
    ) async throws -> (
        entries: [StateEntry], rows: [[String: Any]], version: String
    ) {
        let rows = try await admin.client.query(
            """
            SELECT key, value_utf8, value FROM state \
            WHERE service_name = \(sqlLiteral(service)) AND service_key = \(sqlLiteral(key)) ORDER BY key
            """
        ).rows
        let entries = try rows.map { row in
            guard let name = row["key"] as? String, let value = hexBytes(cellText(row["value"])) else {
                throw AdminClientError(
                    description:
                        "\(service)/\(key) has a state entry whose name is not UTF-8; keel state can not edit it"
                )
            }
            return StateEntry(name: Data(name.utf8), value: value)
        }
        return (entries, rows, StateVersion.of(entries))
    }

    /// Sends the new state with the version it was made from (409 when the state changed since).
    static func write(
        _ admin: AdminOptions,
        _ service: String,
        _ key: String,
        _ entries: [StateEntry],
        version: String
    ) async throws -> String {
        var state: [String: [UInt8]] = [:]
        for entry in entries { state[String(decoding: entry.name, as: UTF8.self)] = Array(entry.value) }
        let answer = try await admin.client.send(
            .POST,
            "/services/\(service)/state",
            body: ["object_key": key, "version": version, "new_state": state]
        )
        return cellText((answer as? [String: Any])?["version"])
    }

    static func hexBytes(_ text: String) -> Data? {
        var bytes = Data(capacity: text.count / 2)
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2, limitedBy: text.endIndex) ?? text.endIndex
            guard let byte = UInt8(text[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return bytes
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set one entry of SERVICE's object KEY to VALUE (JSON text, stored as its bytes).",
            discussion: """
                The edit is refused when the state changed after it was read (or after --version), and while an \
                invocation runs on the object or waits for it.
                Example: keel state set Counter alice count 5
                """
        )
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The virtual object or workflow.") var service: String
        @Argument(help: "The object's key.") var key: String
        @Argument(help: "The state entry's name.") var name: String
        @Argument(help: "The value, as JSON text (a string needs its quotes: '\"text\"').") var value: String
        @Option(help: "Only if the state still has this version (keel state get prints it).") var version: String?

        func run() async throws {
            guard (try? JSONSerialization.jsonObject(with: Data(value.utf8), options: [.fragmentsAllowed])) != nil
            else {
                throw ValidationError("VALUE must be JSON text: 5, '\"text\"', '{\"a\": 1}'")
            }
            let current = try await State.read(admin, service, key)
            var entries = current.entries.filter { $0.name != Data(name.utf8) }
            entries.append(StateEntry(name: Data(name.utf8), value: Data(value.utf8)))
            let written = try await State.write(admin, service, key, entries, version: version ?? current.version)
            print("\(service)/\(key): \(name) = \(value) (version \(written))")
        }
    }

    struct Clear: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Clear the state of SERVICE's object KEY, or one entry of it."
        )
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The virtual object or workflow.") var service: String
        @Argument(help: "The object's key.") var key: String
        @Argument(help: "Clear only this entry.") var name: String?
        @Option(help: "Only if the state still has this version (keel state get prints it).") var version: String?
        @Flag(name: [.customShort("y"), .long], help: "Do not ask for confirmation.") var yes = false

        func run() async throws {
            let current = try await State.read(admin, service, key)
            if !yes, name == nil {
                guard isatty(STDIN_FILENO) == 1 else {
                    throw AdminClientError(
                        description: "clearing all of \(service)/\(key)'s state needs --yes without a terminal"
                    )
                }
                print("clear all \(current.entries.count) entries of \(service)/\(key)? [y/N] ", terminator: "")
                guard let answer = readLine(), ["y", "yes"].contains(answer.lowercased()) else {
                    print("nothing done")
                    return
                }
            }
            let entries = name.map { name in current.entries.filter { $0.name != Data(name.utf8) } } ?? []
            let written = try await State.write(admin, service, key, entries, version: version ?? current.version)
            print("\(service)/\(key): \(name.map { "\($0) cleared" } ?? "state cleared") (version \(written))")
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the state of SERVICE's object KEY.")
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The virtual object or workflow.") var service: String
        @Argument(help: "The object's key.") var key: String
        @Flag(
            help:
                "Print JSON: {\"state\": {\"name\": value}, \"version\": …} (values that are not JSON as strings, binary ones as hex)."
        )
        var json = false

        func run() async throws {
            let (_, rows, version) = try await State.read(admin, service, key)
            if json {
                var object: [String: Any] = [:]
                for row in rows {
                    let text = row["value_utf8"] as? String
                    let parsed = text.flatMap {
                        try? JSONSerialization.jsonObject(with: Data($0.utf8), options: [.fragmentsAllowed])
                    }
                    object[cellText(row["key"])] = parsed ?? text ?? cellText(row["value"])
                }
                printJSON(["state": object, "version": version])
                return
            }
            guard !rows.isEmpty else {
                print("\(service)/\(key) has no state")
                return
            }
            let table = TextTable(
                columns: ["key", "value"],
                rows: rows.map {
                    [cellText($0["key"]), ($0["value_utf8"] as? String) ?? "0x" + cellText($0["value"])]
                },
                maxWidth: 120
            )
            print(table.render(), terminator: "")
            FileHandle.standardError.write(Data("version \(version)\n".utf8))
        }
    }
}
