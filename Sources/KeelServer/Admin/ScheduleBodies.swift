import Foundation
import KeelCore
import KeelEngine
import KeelStore

/// Schedules on the admin API, in Temporal's shape (`spec`, `action`, `policies`, `state`, and `info` in
/// answers). Read and written with JSONSerialization, so that `action.input` keeps whatever JSON it was given.
enum ScheduleBody {
    static let example =
        "{\"id\": \"nightly\", \"spec\": {\"cron\": [\"0 2 * * *\"], \"timeZone\": \"Europe/Berlin\"}, \"action\": {\"sink\": \"service://Reports/nightly\"}, \"policies\": {\"overlap\": \"skip\", \"catchupWindow\": \"1h\"}}"

    /// What a create or replace asks for.
    struct Parsed {
        var id: String?
        var definition: ScheduleDefinition
        var paused: Bool?
    }

    static func parse(_ data: Data) throws(EngineError) -> Parsed {
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw EngineError(.badRequest, "the body must be a JSON object like \(example)")
        }
        let spec = try member(object, "spec", as: [String: Any].self) ?? [:]
        let action = try member(object, "action", as: [String: Any].self) ?? [:]
        let policies = try member(object, "policies", as: [String: Any].self) ?? [:]
        let state = try member(object, "state", as: [String: Any].self) ?? [:]
        guard let sink = try member(action, "sink", as: String.self, field: "action.sink") else {
            throw EngineError(.badRequest, "action.sink is required (service://{service}/{handler}); e.g. \(example)")
        }
        let cron = try member(spec, "cron", as: [String].self, field: "spec.cron") ?? []
        var intervals: [ScheduleDefinition.Interval] = []
        let intervalObjects = try member(spec, "interval", as: [[String: Any]].self, field: "spec.interval") ?? []
        for (index, interval) in intervalObjects.enumerated() {
            guard let every = interval["every"] as? String else {
                throw EngineError(.badRequest, "spec.interval[\(index)].every is required: a duration such as \"15m\"")
            }
            let offset = try member(interval, "offset", as: String.self, field: "spec.interval[\(index)].offset")
            intervals.append(.init(every: every, offset: offset))
        }
        var overlap = OverlapPolicy.skip
        if let text = try member(policies, "overlap", as: String.self, field: "policies.overlap") {
            do {
                overlap = try OverlapPolicy(parsing: text, field: "policies.overlap")
            } catch {
                throw EngineError(.badRequest, error.message)
            }
        }
        var input: Data?
        if let value = action["input"], !(value is NSNull) {
            input = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed])
        }
        let definition = ScheduleDefinition(
            cron: cron,
            intervals: intervals,
            timeZone: try member(spec, "timeZone", as: String.self, field: "spec.timeZone"),
            sink: sink,
            key: try member(action, "key", as: String.self, field: "action.key"),
            input: input,
            overlap: overlap,
            catchupWindow: try member(policies, "catchupWindow", as: String.self, field: "policies.catchupWindow"),
            note: try member(state, "note", as: String.self, field: "state.note")
        )
        return Parsed(
            id: try member(object, "id", as: String.self),
            definition: definition,
            paused: try member(state, "paused", as: Bool.self, field: "state.paused")
        )
    }

    private static func member<T>(
        _ object: [String: Any],
        _ name: String,
        as type: T.Type,
        field: String? = nil
    ) throws(EngineError) -> T? {
        guard let value = object[name], !(value is NSNull) else { return nil }
        guard let typed = value as? T else {
            throw EngineError(.badRequest, "\(field ?? name) has the wrong type; e.g. \(example)")
        }
        return typed
    }

    /// A schedule as `GET /schedules/{id}` answers it.
    static func object(_ description: Engine.ScheduleDescription) -> [String: Any] {
        let record = description.record
        let definition = record.definition
        let progress = record.progress
        var spec: [String: Any] = ["cron": definition.cron]
        if !definition.intervals.isEmpty {
            spec["interval"] = definition.intervals.map { interval -> [String: Any] in
                var object: [String: Any] = ["every": interval.every]
                if let offset = interval.offset { object["offset"] = offset }
                return object
            }
        }
        if let timeZone = definition.timeZone { spec["timeZone"] = timeZone }
        var action: [String: Any] = ["sink": definition.sink]
        if let key = definition.key { action["key"] = key }
        if let input = definition.input,
            let value = try? JSONSerialization.jsonObject(with: input, options: [.fragmentsAllowed])
        {
            action["input"] = value
        }
        var policies: [String: Any] = ["overlap": definition.overlap.rawValue]
        if let window = definition.catchupWindow { policies["catchupWindow"] = window }
        var state: [String: Any] = ["paused": progress.paused]
        if let note = definition.note { state["note"] = note }
        let info: [String: Any] = [
            "actionCount": progress.actionCount,
            "missedCatchupWindow": progress.missedCatchupWindow,
            "overlapSkipped": progress.overlapSkipped,
            "bufferedActions": progress.buffered.count,
            "runningInvocations": progress.running.map(\.invocationID),
            "recentActions": progress.recent.reversed().map { run -> [String: Any] in
                [
                    "scheduleTime": time(run.tick.nominal),
                    "actualTime": time(run.startedAt),
                    "invocationId": run.invocationID,
                    "manual": run.tick.manual,
                ]
            },
            "futureActionTimes": description.nextTimes.map(time),
            "createdAt": time(record.createdAt),
            "updatedAt": time(record.updatedAt),
        ]
        return [
            "id": record.id,
            "spec": spec,
            "action": action,
            "policies": policies,
            "state": state,
            "declared": record.declared,
            "info": info,
        ]
    }

    static func data(_ object: Any) -> Data {
        (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
    }

    private static func time(_ instant: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date(timeIntervalSince1970: Double(instant) / 1_000))
    }
}
