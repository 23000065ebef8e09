import Foundation

/// A file that holds secrets (tokens, a signing key): its text, refused when it cannot be read or when every
/// user can read it. The refusals start with `prefix` (`--admin-token-file: `) and name the file as `what`
/// (`the token file`).
enum SecretFile {
    static func read(_ path: String, what: String, prefix: String = "") throws -> String {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        if let mode = attributes?[.posixPermissions] as? Int, mode & 0o004 != 0 {
            throw KeelApplicationError(
                "\(prefix)\(what) \(path) is readable by every user (mode \(String(mode, radix: 8))): chmod 600 it"
            )
        }
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8)
        else { throw KeelApplicationError("\(prefix)cannot read \(what) \(path)") }
        return text
    }
}
