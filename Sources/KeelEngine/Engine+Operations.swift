import KeelCore
import KeelProtocol
import KeelStore

/// What operators and clients do to invocations that exist: find them by workflow or idempotency key, cancel,
/// kill, pause, purge, resume, and complete their awakeables.
extension Engine {
    /// The id of a workflow's run, for attach and output by workflow key.
    public func workflowInvocationID(service: String, key: String) throws -> InvocationID {
        guard let found = registry.services[service] else {
            throw EngineError(.notFound, "workflow '\(service)' not found")
        }
        guard found.kind == .workflow else {
            throw EngineError(.badRequest, "'\(service)' is a \(found.kind.rawValue), not a workflow")
        }
        if let problem = InputRules.keyProblem(key) { throw EngineError(.badRequest, problem) }
        return IdentityDerivation.workflowID(service: service, key: key)
    }

    /// The id an idempotent request got, for attach and output by idempotency key.
    public func idempotentInvocationID(target: InvocationTarget, idempotencyKey: String) -> InvocationID {
        IdentityDerivation.idempotentID(target: target, idempotencyKey: idempotencyKey)
    }

    /// Cancels cooperatively (see `PartitionProcessor.CancelOutcome`). 409 when completed, 404 when unknown.
    public func cancel(_ id: InvocationID) async throws -> CancelOutcome {
        try await partition(for: id).cancel(id)
    }

    /// Ends an invocation at once with 409 "killed", and the invocations it called, recursively.
    public func kill(_ id: InvocationID) async throws {
        try await partition(for: id).kill(id)
    }

    /// Parks a running or suspended invocation until `resume` or `kill`; its current attempt is abandoned.
    public func pause(_ id: InvocationID) async throws {
        try await partition(for: id).pauseByOperator(id)
    }

    /// Forgets a completed invocation.
    public func purge(_ id: InvocationID) async throws {
        try await partition(for: id).purge(id)
    }

    /// Resumes a paused invocation, optionally pinning it to another deployment first.
    public func resume(_ id: InvocationID, deploymentID: String? = nil) async throws {
        try await partition(for: id).resumePaused(id, deploymentID: deploymentID)
    }

    /// Replaces the state of a virtual object's or workflow's `key` (see `PartitionProcessor.replaceState`).
    /// 404 for a service that is not an object or workflow, 409 while the object is in use or when
    /// `expectedVersion` is stale. Returns the new version.
    public func replaceState(
        service: String,
        key: String,
        with entries: [StateEntry],
        expectedVersion: String?
    ) async throws -> String {
        guard let found = registry.services[service] else {
            throw EngineError(.notFound, "service '\(service)' not found")
        }
        guard found.kind != .service else {
            throw EngineError(.badRequest, "'\(service)' is a service: only virtual objects and workflows have state")
        }
        if let problem = InputRules.keyProblem(key) { throw EngineError(.badRequest, problem) }
        let object = ObjectAddress(service: service, key: key)
        return try await partition(for: object).replaceState(
            of: object,
            with: entries,
            expectedVersion: expectedVersion
        )
    }

    /// Resolves or rejects an awakeable (`sign_1…`) from outside. 400 for a malformed id, 404 when its
    /// invocation is not running, 409 when it was completed already.
    public func completeAwakeable(_ text: String, with result: InvocationResult) async throws {
        guard let awakeable = AwakeableID(text), let id = awakeable.invocationID else {
            throw EngineError(
                .badRequest,
                "'\(text)' is not an awakeable id: expected sign_1 followed by 38 base64url characters"
            )
        }
        try await partition(for: id).completeAwakeable(awakeable, invocation: id, with: result)
    }
}
