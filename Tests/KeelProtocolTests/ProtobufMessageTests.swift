import Foundation
import KeelProtocol
import SwiftProtobuf
import Testing

@Suite("Protocol messages")
struct ProtobufMessageTests {
    @Test("a StartMessage with eager state survives a frame round trip")
    func startMessage() throws {
        var start = PBStartMessage()
        start.id = Data(InvocationID(partitionKey: 9, uuid: 12345).bytes)
        start.debugID = InvocationID(partitionKey: 9, uuid: 12345).description
        start.knownEntries = 2
        start.stateMap = [
            .with {
                $0.key = Data("counter".utf8)
                $0.value = Data("1".utf8)
            },
            .with {
                $0.key = Data("empty".utf8)
                $0.value = Data()
            },
        ]
        start.partialState = false
        start.key = "my-key"
        start.retryCountSinceLastStoredEntry = 3
        start.durationSinceLastStoredEntry = 1500
        start.randomSeed = 0xDEAD_BEEF_CAFE

        var decoder = FrameDecoder()
        decoder.append(try Frame(type: .start, message: start).encoded())
        let frame = try #require(try decoder.next())
        let decoded = try frame.decode(PBStartMessage.self)

        #expect(frame.messageType == .start)
        #expect(decoded == start)
        #expect(decoded.stateMap[1].value.isEmpty)
        #expect(!decoded.hasScope)
    }

    @Test("a V6 suspension survives a frame round trip and is not a V7 suspension")
    func suspensionV6() throws {
        let suspension = PBSuspensionMessageV6.with {
            $0.waitingCompletions = [1, 4]
            $0.waitingSignals = [1]
            $0.waitingNamedSignals = ["approved"]
        }

        let frame = try Frame(type: .suspension, message: suspension)

        #expect(frame.type == 0x0001)
        #expect(try frame.decode(PBSuspensionMessageV6.self) == suspension)
        #expect(!(try frame.decode(PBSuspensionMessage.self)).hasAwaitingOn)
    }

    @Test("a V7 suspension carries a future tree in field 4")
    func suspensionV7() throws {
        let suspension = PBSuspensionMessage.with {
            $0.awaitingOn = .with {
                $0.combinatorType = .firstCompleted
                $0.waitingSignals = [1]
                $0.nestedFutures = [.with { $0.waitingCompletions = [1] }]
            }
        }

        let bytes: [UInt8] = try suspension.serializedBytes()

        #expect(bytes.prefix(1) == [4 << 3 | 2])
        #expect(try PBSuspensionMessage(serializedBytes: bytes) == suspension)
    }

    @Test("every notification reads as a NotificationTemplate")
    func notificationTemplate() throws {
        let sleep = try PBNotificationTemplate(
            serializedBytes: PBSleepCompletionNotificationMessage.with {
                $0.completionID = 1
                $0.void = PBVoid()
            }
            .serializedBytes() as [UInt8]
        )
        #expect(sleep.id == .completionID(1))
        #expect(sleep.result == .void(PBVoid()))

        let callID = try PBNotificationTemplate(
            serializedBytes: PBCallInvocationIdCompletionNotificationMessage.with {
                $0.completionID = 2
                $0.invocationID = "inv_1gdJBtdVEcM942bjcDmb1c1khoaJe11Hbz"
            }.serializedBytes() as [UInt8]
        )
        #expect(callID.result == .invocationID("inv_1gdJBtdVEcM942bjcDmb1c1khoaJe11Hbz"))

        let keys = try PBNotificationTemplate(
            serializedBytes: PBGetLazyStateKeysCompletionNotificationMessage.with {
                $0.completionID = 3
                $0.stateKeys = .with { $0.keys = [Data("a".utf8)] }
            }.serializedBytes() as [UInt8]
        )
        #expect(keys.result == .stateKeys(.with { $0.keys = [Data("a".utf8)] }))

        let signal = try PBNotificationTemplate(
            serializedBytes: PBSignalNotificationMessage.with {
                $0.name = "approved"
                $0.failure = .with {
                    $0.code = 409
                    $0.message = "no"
                }
            }.serializedBytes() as [UInt8]
        )
        #expect(signal.id == .signalName("approved"))
        #expect(signal.failure.code == 409)
    }

    /// A few messages with known encodings, to catch a wrong field number in the .proto.
    @Test("fields use Restate's numbers")
    func fieldNumbers() throws {
        let output = PBOutputCommandMessage.with { $0.value = .with { $0.content = Data([0x41]) } }
        #expect(try bytes(output) == [14 << 3 | 2, 3, 1 << 3 | 2, 1, 0x41])

        let eagerVoid = PBGetEagerStateCommandMessage.with { $0.void = PBVoid() }
        #expect(try bytes(eagerVoid) == [13 << 3 | 2, 0])

        let run = PBProposeRunCompletionMessage.with {
            $0.resultCompletionID = 2
            $0.value = Data([7])
        }
        #expect(try bytes(run) == [1 << 3, 2, 14 << 3 | 2, 1, 7])

        let keys = PBGetLazyStateKeysCompletionNotificationMessage.with {
            $0.completionID = 1
            $0.stateKeys = PBStateKeys()
        }
        #expect(try bytes(keys) == [1 << 3, 1, 0x8A, 0x01, 0])

        let callID = PBCallInvocationIdCompletionNotificationMessage.with {
            $0.completionID = 1
            $0.invocationID = "i"
        }
        #expect(try bytes(callID) == [1 << 3, 1, 0x82, 0x01, 1, 0x69])

        let signal = PBSignalNotificationMessage.with {
            $0.idx = 17
            $0.void = PBVoid()
        }
        #expect(try bytes(signal) == [2 << 3, 17, 4 << 3 | 2, 0])

        let call = PBCallCommandMessage.with {
            $0.invocationIDNotificationIdx = 1
            $0.resultCompletionID = 2
            $0.name = "n"
        }
        #expect(try bytes(call) == [10 << 3, 1, 11 << 3, 2, 12 << 3 | 2, 1, 0x6E])

        let error = PBErrorMessage.with {
            $0.nextRetryDelay = 0
            $0.behavior = .pause
        }
        #expect(try bytes(error) == [8 << 3, 0, 9 << 3, 1])
    }

    private func bytes(_ message: some SwiftProtobuf.Message) throws -> [UInt8] {
        try message.serializedBytes()
    }
}
