import Foundation
import KeelProtocol
import SwiftProtobuf

/// The SDK side of the service protocol for one attempt, without I/O.
///
/// Frames from the runtime go in through `receive(_:)`; each context operation is a method that either
/// matches the next replayed command (and checks it is the same command, or fails with 570) or emits a new
/// command into `outbox`. The caller drains `outbox` and owns every wait: the machine only answers whether a
/// notification is there.
struct InvocationStateMachine: Sendable {
    enum Phase: Hashable, Sendable {
        case awaitingStart
        case awaitingReplayEntries
        case replaying
        case processing
        /// A terminal frame (`End`, `Suspension` or `Error`) was emitted.
        case closed
    }

    struct Start: Sendable {
        var id: [UInt8]
        var debugID: String
        var key: String
        var randomSeed: UInt64
        var retryCountSinceLastStoredEntry: UInt32
        var durationSinceLastStoredEntry: UInt64
    }

    private(set) var phase = Phase.awaitingStart
    private(set) var start: Start?
    private(set) var inputHeaders: [(String, String)] = []
    private(set) var input = Data()
    private(set) var isInputClosed = false
    /// Frames to send to the runtime, oldest first.
    var outbox: [Frame] = []

    private let protocolVersion: Int
    private var knownEntries = 0
    private var receivedEntries = 0
    private var replayCommands: [Frame] = []
    private var replayCursor = 0
    /// Notifications in arrival order; see ``NotificationQueue``.
    private var notifications = NotificationQueue()
    /// Index (over commands) of the next command; `Input` is command 0.
    private(set) var commandIndex = 0
    /// True from the end of the replay until the first new command is written (as in Restate's shared core):
    /// only then do the `StartMessage` retry counters describe the step being retried.
    private(set) var processingFirstEntry = false
    /// Invocation-id completions of the calls made so far, for implicit cancellation of children.
    private var childCalls: [UInt32] = []
    private var nextCompletionID: UInt32 = 1
    private var nextSignalIndex: UInt32 = 17
    private var eagerState: [Data: Data] = [:]
    private var partialState = true

    init(protocolVersion: Int) {
        self.protocolVersion = protocolVersion
    }

    /// True once the whole replayed journal arrived: the handler may run.
    var isReadyToExecute: Bool { phase == .replaying || phase == .processing }

    var isClosed: Bool { phase == .closed }

    // MARK: - Input from the runtime

    mutating func receive(_ frame: Frame) throws(ProtocolError) {
        switch phase {
        case .awaitingStart:
            guard frame.messageType == .start else {
                throw violation("expected StartMessage first, got type 0x\(String(frame.type, radix: 16))")
            }
            let message = try decode(PBStartMessage.self, frame)
            guard message.knownEntries >= 1 else { throw violation("StartMessage.known_entries is 0") }
            start = Start(
                id: Array(message.id),
                debugID: message.debugID,
                key: message.key,
                randomSeed: message.randomSeed != 0 ? message.randomSeed : Self.fallbackSeed(Array(message.id)),
                retryCountSinceLastStoredEntry: message.retryCountSinceLastStoredEntry,
                durationSinceLastStoredEntry: message.durationSinceLastStoredEntry
            )
            knownEntries = Int(message.knownEntries)
            partialState = message.partialState
            for entry in message.stateMap { eagerState[entry.key] = entry.value }
            phase = .awaitingReplayEntries
        case .awaitingReplayEntries:
            try receiveReplayEntry(frame)
        case .replaying, .processing:
            guard frame.messageType?.isNotification == true else {
                throw violation("unexpected frame of type 0x\(String(frame.type, radix: 16)) after the replay")
            }
            let (key, result) = try frame.decodeNotification()
            notifications.enqueue(key, result)
        case .closed:
            break
        }
    }

    mutating func receiveEndOfInput() {
        isInputClosed = true
    }

    private mutating func receiveReplayEntry(_ frame: Frame) throws(ProtocolError) {
        receivedEntries += 1
        if receivedEntries == 1 {
            guard frame.messageType == .input else { throw violation("the first journal entry is not an InputCommand") }
            let message = try decode(PBInputCommandMessage.self, frame)
            input = message.value.content
            inputHeaders = message.headers.map { ($0.key, $0.value) }
        } else if frame.messageType?.isNotification == true {
            let (key, result) = try frame.decodeNotification()
            notifications.enqueue(key, result)
        } else if frame.messageType?.isCommand == true || MessageType.isCustomEntry(frame.type) {
            replayCommands.append(frame)
        } else {
            throw violation("unexpected frame of type 0x\(String(frame.type, radix: 16)) in the replayed journal")
        }
        if receivedEntries == knownEntries {
            commandIndex = 1
            phase = replayCommands.isEmpty ? .processing : .replaying
            processingFirstEntry = replayCommands.isEmpty
        }
    }

    // MARK: - Commands

    /// Either the stored twin of a command (when replaying) or nil after emitting the new one.
    mutating func command<M: SwiftProtobuf.Message>(_ type: MessageType, _ message: M) throws(ProtocolError) -> M? {
        try ensureOpen()
        defer { commandIndex += 1 }
        if phase == .replaying {
            let stored = replayCommands[replayCursor]
            replayCursor += 1
            if replayCursor == replayCommands.count {
                phase = .processing
                processingFirstEntry = true
            }
            guard stored.type == type.rawValue else {
                let storedName =
                    MessageType(rawValue: stored.type).map { "\($0)" } ?? "0x" + String(stored.type, radix: 16)
                throw mismatch("the journal has a \(storedName) command where the handler now issues \(type)")
            }
            return try decode(M.self, stored)
        }
        outbox.append(try encode(type, message))
        processingFirstEntry = false
        return nil
    }

    mutating func allocateCompletionID() -> UInt32 {
        defer { nextCompletionID += 1 }
        return nextCompletionID
    }

    /// Starts `ctx.run`: returns its completion id, whether its result must be computed now, and the index of
    /// its command (for `ErrorMessage.related_command_index`).
    mutating func run(name: String) throws(ProtocolError) -> (completionID: UInt32, execute: Bool, commandIndex: Int) {
        let id = allocateCompletionID()
        let index = commandIndex
        var message = PBRunCommandMessage()
        message.resultCompletionID = id
        message.name = name
        if let stored = try command(.run, message) {
            guard stored.resultCompletionID == id, stored.name == name else {
                throw mismatch(
                    "the journal has run '\(stored.name)' (completion \(stored.resultCompletionID)) where the handler now runs '\(name)' (completion \(id))"
                )
            }
        }
        return (id, !notifications.contains(.completion(id)), index)
    }

    /// The proposal of a `ctx.run` result, which the runtime stores and answers with the notification. Not put
    /// in `outbox`: the driver sends it, with what it says beside it to an embedded runtime (``SpeculativeSteps``).
    func runCompletionProposal(_ id: UInt32, _ result: Result<Data, TerminalError>) throws(ProtocolError) -> Frame {
        try ensureOpen()
        var message = PBProposeRunCompletionMessage()
        message.resultCompletionID = id
        switch result {
        case .success(let value): message.value = value
        case .failure(let failure): message.failure = failure.protocolFailure
        }
        return try encode(.proposeRunCompletion, message)
    }

    enum StateRead: Hashable, Sendable {
        case value(Data?)
        case awaitCompletion(UInt32)
    }

    mutating func getState(_ key: Data) throws(ProtocolError) -> StateRead {
        if phase == .replaying, replayCommands[replayCursor].type == MessageType.getLazyState.rawValue {
            return .awaitCompletion(try lazyGetState(key))
        }
        if phase == .processing, eagerState[key] == nil, partialState {
            return .awaitCompletion(try lazyGetState(key))
        }
        var message = PBGetEagerStateCommandMessage()
        message.key = key
        if let value = eagerState[key] {
            message.value = PBValue.with { $0.content = value }
        } else {
            message.void = PBVoid()
        }
        guard let stored = try command(.getEagerState, message) else {
            return .value(eagerState[key])
        }
        guard stored.key == key else {
            throw mismatch(
                "the journal reads state key \(Self.show(stored.key)) where the handler now reads \(Self.show(key))"
            )
        }
        if case .value(let value)? = stored.result { return .value(value.content) }
        return .value(nil)
    }

    private mutating func lazyGetState(_ key: Data) throws(ProtocolError) -> UInt32 {
        let id = allocateCompletionID()
        var message = PBGetLazyStateCommandMessage()
        message.key = key
        message.resultCompletionID = id
        if let stored = try command(.getLazyState, message), stored.key != key || stored.resultCompletionID != id {
            throw mismatch(
                "the journal reads state key \(Self.show(stored.key)) where the handler now reads \(Self.show(key))"
            )
        }
        return id
    }

    enum KeysRead: Hashable, Sendable {
        case keys([Data])
        case awaitCompletion(UInt32)
    }

    mutating func stateKeys() throws(ProtocolError) -> KeysRead {
        let lazy =
            phase == .replaying
            ? replayCommands[replayCursor].type == MessageType.getLazyStateKeys.rawValue
            : partialState
        if lazy {
            let id = allocateCompletionID()
            var message = PBGetLazyStateKeysCommandMessage()
            message.resultCompletionID = id
            if let stored = try command(.getLazyStateKeys, message), stored.resultCompletionID != id {
                throw mismatch(
                    "the journal's state-keys read has completion \(stored.resultCompletionID), expected \(id)"
                )
            }
            return .awaitCompletion(id)
        }
        var message = PBGetEagerStateKeysCommandMessage()
        message.value = PBStateKeys.with { $0.keys = eagerState.keys.sorted { $0.lexicographicallyPrecedes($1) } }
        let stored = try command(.getEagerStateKeys, message)
        return .keys((stored ?? message).value.keys)
    }

    mutating func setState(_ key: Data, _ value: Data) throws(ProtocolError) {
        var message = PBSetStateCommandMessage()
        message.key = key
        message.value = PBValue.with { $0.content = value }
        if let stored = try command(.setState, message), stored.key != key || stored.value.content != value {
            throw mismatch(
                "the journal sets state key \(Self.show(stored.key)) to other bytes than the handler now sets \(Self.show(key))"
            )
        }
        eagerState[key] = value
    }

    mutating func clearState(_ key: Data) throws(ProtocolError) {
        var message = PBClearStateCommandMessage()
        message.key = key
        if let stored = try command(.clearState, message), stored.key != key {
            throw mismatch(
                "the journal clears state key \(Self.show(stored.key)) where the handler now clears \(Self.show(key))"
            )
        }
        eagerState[key] = nil
    }

    mutating func clearAllState() throws(ProtocolError) {
        _ = try command(.clearAllState, PBClearAllStateCommandMessage())
        eagerState.removeAll()
        partialState = false
    }

    /// Completes the invocation: `Output` (unless replayed) then `End`.
    mutating func writeOutput(_ result: Result<Data, TerminalError>) throws(ProtocolError) {
        var message = PBOutputCommandMessage()
        switch result {
        case .success(let value): message.value = PBValue.with { $0.content = value }
        case .failure(let failure): message.failure = failure.protocolFailure
        }
        _ = try command(.output, message)
        guard replayCursor == replayCommands.count else {
            throw mismatch(
                "the handler returned while the journal still holds \(replayCommands.count - replayCursor) more command(s)"
            )
        }
        outbox.append(try encode(.end, PBEndMessage()))
        phase = .closed
    }

    /// Ends the attempt waiting for any of `keys` (V5/V6 flat encoding). The CANCEL signal is always listed.
    mutating func suspend(waitingOn keys: [NotificationKey]) throws(ProtocolError) {
        try ensureOpen()
        var message = PBSuspensionMessageV6()
        var completions: Set<UInt32> = []
        var signals: Set<UInt32> = [1]
        var names: Set<String> = []
        for key in keys {
            switch key {
            case .completion(let id): completions.insert(id)
            case .signal(let id): signals.insert(id)
            case .namedSignal(let name): names.insert(name)
            }
        }
        message.waitingCompletions = completions.sorted()
        message.waitingSignals = signals.sorted()
        message.waitingNamedSignals = names.sorted()
        outbox.append(try encode(.suspension, message))
        phase = .closed
    }

    /// Fails the attempt; the runtime retries it. Safe to call in any phase.
    mutating func fail(
        code: UInt16,
        message text: String,
        nextRetryDelay: Duration? = nil,
        relatedCommand: (index: Int, name: String, type: MessageType)? = nil
    ) {
        guard phase != .closed else { return }
        var message = PBErrorMessage()
        message.code = UInt32(code)
        message.message = text
        if let relatedCommand {
            message.relatedCommandIndex = UInt32(clamping: relatedCommand.index)
            message.relatedCommandName = relatedCommand.name
            message.relatedCommandType = UInt32(relatedCommand.type.rawValue)
        } else if phase == .replaying || phase == .processing {
            message.relatedCommandIndex = UInt32(max(commandIndex - 1, 0))
        }
        if let nextRetryDelay {
            message.nextRetryDelay = nextRetryDelay.wholeMilliseconds
        }
        if let frame = try? encode(.error, message) { outbox.append(frame) }
        phase = .closed
    }

    // MARK: - Notifications

    /// Whether a CANCEL signal arrived that no await has raised yet (visible or not).
    var hasUnraisedCancel: Bool { notifications.hasUnraisedCancel }

    /// Whether the notification of `key` arrived, whether or not it was made visible yet.
    func hasNotification(_ key: NotificationKey) -> Bool {
        notifications.contains(key)
    }

    /// What an await on any of `keys` gets from the notifications made visible so far; nil if none yet.
    ///
    /// With `cancellable`, a visible CANCEL signal wins over everything and is consumed by this call.
    mutating func resolve(_ keys: [NotificationKey], cancellable: Bool) -> NotificationQueue.Resolution? {
        notifications.resolve(keys, cancellable: cancellable)
    }

    /// Makes the next arrived notification visible; false when none is left.
    mutating func revealNextNotification() -> Bool {
        notifications.revealNext()
    }

    /// The invocation-id completions of the calls made since the last cancellation, which it now takes.
    mutating func takeChildCalls() -> [UInt32] {
        defer { childCalls.removeAll() }
        return childCalls
    }

    mutating func trackChildCall(_ invocationIDCompletion: UInt32) {
        childCalls.append(invocationIDCompletion)
    }

    /// Reserves the next awakeable signal index (not journaled).
    mutating func allocateSignalIndex() -> UInt32 {
        defer { nextSignalIndex += 1 }
        return nextSignalIndex
    }
}
