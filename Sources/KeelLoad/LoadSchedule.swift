/// When measuring starts and when clients stop starting requests.
struct LoadSchedule: Sendable {
    let measureStart: ContinuousClock.Instant
    let deadline: ContinuousClock.Instant
}
