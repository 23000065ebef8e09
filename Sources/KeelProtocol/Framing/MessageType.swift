/// The type code in a frame header (protocol V5 to V7).
///
/// Codes below `0x0400` are control messages, `0x0400` to `0x7FFF` journal commands, `0x8000` to `0xFBFF`
/// notifications, and `0xFC00` and above custom entries, which have no case here.
public enum MessageType: UInt16, Sendable, CaseIterable {
    case start = 0x0000
    /// Encoded as `PBSuspensionMessageV6` in V5 and V6, as `PBSuspensionMessage` in V7.
    case suspension = 0x0001
    case error = 0x0002
    case end = 0x0003
    case commandAck = 0x0004
    case proposeRunCompletion = 0x0005
    /// V7 only.
    case awaitingOn = 0x0006
    /// V7 only.
    case proposeRunCompletionAck = 0x0007

    case input = 0x0400
    case output = 0x0401
    case getLazyState = 0x0402
    case setState = 0x0403
    case clearState = 0x0404
    case clearAllState = 0x0405
    case getLazyStateKeys = 0x0406
    case getEagerState = 0x0407
    case getEagerStateKeys = 0x0408
    case getPromise = 0x0409
    case peekPromise = 0x040A
    case completePromise = 0x040B
    case sleep = 0x040C
    case call = 0x040D
    case oneWayCall = 0x040E
    case sendSignal = 0x0410
    case run = 0x0411
    case attachInvocation = 0x0412
    case getInvocationOutput = 0x0413
    case completeAwakeable = 0x0414

    case getLazyStateCompletion = 0x8002
    case getLazyStateKeysCompletion = 0x8006
    case getPromiseCompletion = 0x8009
    case peekPromiseCompletion = 0x800A
    case completePromiseCompletion = 0x800B
    case sleepCompletion = 0x800C
    case callCompletion = 0x800D
    case callInvocationIdCompletion = 0x800E
    case runCompletion = 0x8011
    case attachInvocationCompletion = 0x8012
    case getInvocationOutputCompletion = 0x8013
    case signal = 0xFBFF

    /// A control message, never stored in the journal.
    public var isControl: Bool { rawValue < 0x0400 }

    /// A command: a journal entry the handler produces.
    public var isCommand: Bool { (0x0400...0x7FFF).contains(rawValue) }

    /// A notification: a journal entry that completes a command or delivers a signal.
    public var isNotification: Bool { (0x8000...0xFBFF).contains(rawValue) }

    /// Whether `raw` is in the custom-entry range, which is stored and replayed without being interpreted.
    public static func isCustomEntry(_ raw: UInt16) -> Bool {
        raw & 0xFC00 == 0xFC00
    }
}
