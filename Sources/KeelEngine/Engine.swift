import Foundation
import KeelCore
import KeelProtocol
import KeelStore
import Logging
import ServiceLifecycle
import Synchronization

/// The durable execution engine: it accepts invocations, runs them to completion through their endpoints,
/// and survives crashes by keeping every decision in the store before acknowledging it.
///
/// Call `recover()` once before serving requests, then run the engine as a `Service` in a `ServiceGroup`.
public final class Engine: Service {
    public let registry: ServiceRegistry
    public let configuration: EngineConfiguration
    private let store: any Store
    private let writer: GroupCommitWriter
    private let partitions: [PartitionProcessor]
    private let logger: Logger
    private let sequence = SequenceCounter()
    private let jobs: AsyncStream<PartitionProcessor.Job>
    private let jobSink: AsyncStream<PartitionProcessor.Job>.Continuation

    public init(
        store: any Store,
        endpoints: [any EmbeddedEndpoint],
        configuration: EngineConfiguration = EngineConfiguration(),
        logger: Logger = Logger(label: "keel.engine")
    ) {
        self.store = store
        self.registry = ServiceRegistry(embedded: endpoints)
        self.configuration = configuration
        self.logger = logger
        let writer = GroupCommitWriter(store: store, logger: logger)
        self.writer = writer
        let sequence = self.sequence
        let (jobs, jobSink) = AsyncStream.makeStream(of: PartitionProcessor.Job.self)
        self.jobs = jobs
        self.jobSink = jobSink
        let registry = self.registry
        self.partitions = (0..<configuration.partitions).map { index in
            PartitionProcessor(
                index: index,
                store: store,
                writer: writer,
                registry: registry,
                configuration: configuration,
                logger: logger,
                nextSequence: { sequence.next() },
                spawn: { job in jobSink.yield(job) }
            )
        }
    }

    // MARK: - Lifecycle

    /// Loads every unfinished invocation and schedules the ones that were running. Returns how many it found.
    @discardableResult
    public func recover() async throws -> Int {
        sequence.reset(to: try await store.maxSequence())
        let records = try await store.unfinishedInvocations()
        var byPartition: [[InvocationRecord]] = Array(repeating: [], count: partitions.count)
        for record in records { byPartition[partitionIndex(record.id)].append(record) }
        for (index, partition) in partitions.enumerated() where !byPartition[index].isEmpty {
            await partition.recover(byPartition[index])
        }
        if !records.isEmpty {
            logger.info("recovered unfinished invocations", metadata: ["count": "\(records.count)"])
        }
        return records.count
    }

    public func run() async throws {
        let jobs = self.jobs
        let writer = self.writer
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask { await writer.run() }
                await withDiscardingTaskGroup { attempts in
                    attempts.addTask { await self.purgeExpiredPeriodically() }
                    for await job in jobs { attempts.addTask { await job() } }
                    attempts.cancelAll()
                }
                writer.close()
            }
        } onGracefulShutdown: {
            self.jobSink.finish()
            let partitions = self.partitions
            Task { for partition in partitions { await partition.releaseWaitersForShutdown() } }
        }
    }

    private func purgeExpiredPeriodically() async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: configuration.purgeInterval)
                let purged = try await store.purgeExpired(now: EngineClock.nowMilliseconds())
                if purged > 0 { logger.debug("purged expired completions", metadata: ["count": "\(purged)"]) }
            } catch is CancellationError {
                return
            } catch {
                logger.warning("purging expired completions failed", metadata: ["error": "\(error)"])
            }
        }
    }

    // MARK: - Requests

    /// A request to run a handler.
    public struct Request: Sendable {
        public var target: InvocationTarget
        public var body: Data
        public var headers: [(String, String)]
        public var idempotencyKey: String?

        public init(target: InvocationTarget, body: Data, headers: [(String, String)] = [], idempotencyKey: String? = nil) {
            self.target = target
            self.body = body
            self.headers = headers
            self.idempotencyKey = idempotencyKey
        }
    }

    /// The answer to a send: the invocation's id, and whether an earlier request had already started it.
    public struct Receipt: Hashable, Sendable {
        public var id: InvocationID
        public var previouslyAccepted: Bool
    }

    /// Accepts a request once it is durable, without waiting for its result.
    public func send(_ request: Request) async throws -> Receipt {
        let resolved = try registry.resolve(request.target)
        let id: InvocationID
        if let key = request.idempotencyKey {
            guard !key.isEmpty else { throw EngineError(.badRequest, "the idempotency-key header is empty") }
            id = IdentityDerivation.idempotentID(target: request.target, idempotencyKey: key)
        } else {
            let partitionKey = request.target.key.map(IdentityDerivation.partitionKey(forObjectKey:)) ?? UInt64.random(in: .min ... .max)
            id = InvocationID.generate(partitionKey: partitionKey, nowMilliseconds: UInt64(EngineClock.nowMilliseconds()))
        }
        var input = PBInputCommandMessage()
        input.headers = request.headers.map { header in
            PBHeader.with {
                $0.key = header.0
                $0.value = header.1
            }
        }
        input.value = PBValue.with { $0.content = request.body }
        let entry: JournalEntry
        do {
            entry = JournalEntry(type: MessageType.input.rawValue, payload: try input.serializedData())
        } catch {
            throw EngineError(.badRequest, "cannot encode the request: \(error)")
        }
        let acceptance = try await partition(for: id).accept(
            .init(id: id, resolved: resolved, input: entry, idempotencyKey: request.idempotencyKey)
        )
        return Receipt(id: id, previouslyAccepted: acceptance == .duplicate)
    }

    /// Accepts a request and waits for its result.
    public func call(_ request: Request) async throws -> (id: InvocationID, result: InvocationResult) {
        let receipt = try await send(request)
        return (receipt.id, try await attach(receipt.id))
    }

    /// Waits for an invocation's result.
    public func attach(_ id: InvocationID) async throws -> InvocationResult {
        if let result = await partition(for: id).awaitResult(id) { return result }
        if let result = try await storedResult(id) { return result }
        throw EngineError(.notFound, "invocation \(id) not found")
    }

    /// An invocation's result if it completed; nil while it runs.
    public func output(_ id: InvocationID) async throws -> InvocationResult? {
        if await partition(for: id).isActive(id) { return nil }
        if let result = try await storedResult(id) { return result }
        throw EngineError(.notFound, "invocation \(id) not found")
    }

    /// What the engine knows about an invocation: status, retries, last failure, result; nil when unknown.
    public func describe(_ id: InvocationID) async throws -> InvocationRecord? {
        if let record = await partition(for: id).record(of: id) { return record }
        do {
            return try await store.invocation(id)
        } catch {
            throw EngineError.storage(error)
        }
    }

    private func storedResult(_ id: InvocationID) async throws -> InvocationResult? {
        do {
            guard let record = try await store.invocation(id) else { return nil }
            if let result = record.result { return result }
        } catch {
            throw EngineError.storage(error)
        }
        // Unfinished but not in memory: it was accepted by a partition that has not loaded it (not expected).
        throw EngineError(.notReady, "invocation \(id) has not completed yet")
    }

    private func partitionIndex(_ id: InvocationID) -> Int {
        Int(id.partitionKey % UInt64(partitions.count))
    }

    private func partition(for id: InvocationID) -> PartitionProcessor {
        partitions[partitionIndex(id)]
    }
}
