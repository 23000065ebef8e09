import Foundation
import GRDB
import KeelStore

extension SQLiteStore {
    public func saveDeployment(_ deployment: DeploymentRecord) async throws {
        let headers = try JSONEncoder().encode(deployment.additionalHeaders)
        try await write { db in
            try db.execute(
                sql: """
                    INSERT INTO deployment (id, uri, additional_headers, use_http_11, protocol_version, manifest, created_at, retired_at) \
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
                    ON CONFLICT (id) DO UPDATE SET retired_at = excluded.retired_at
                    """,
                arguments: [
                    deployment.id, deployment.uri, String(decoding: headers, as: UTF8.self), deployment.useHTTP11,
                    deployment.protocolVersion, deployment.manifest, deployment.createdAt, deployment.retiredAt,
                ]
            )
        }
    }

    public func deployments() async throws -> [DeploymentRecord] {
        try await read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT id, uri, additional_headers, use_http_11, protocol_version, manifest, created_at, retired_at \
                    FROM deployment ORDER BY created_at, id
                    """
            ).map(Self.deployment)
        }
    }

    private static func deployment(_ row: Row) throws -> DeploymentRecord {
        let headersText: String = row[2]
        guard let headers = try? JSONDecoder().decode([String: String].self, from: Data(headersText.utf8)) else {
            throw StoreError(.corrupt, "deployment \(row[0] as String) has unreadable additional headers")
        }
        return DeploymentRecord(
            id: row[0],
            uri: row[1],
            additionalHeaders: headers,
            useHTTP11: row[3],
            protocolVersion: row[4],
            manifest: row[5],
            createdAt: row[6],
            retiredAt: row[7]
        )
    }
}
