/// The version `keel --version` prints and `/version` reports.
public enum KeelVersion {
    public static let current = "0.1.0"
}
