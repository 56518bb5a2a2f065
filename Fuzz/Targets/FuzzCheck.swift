/// Invariant checks inside fuzz targets. A failure traps, so libFuzzer keeps the input as a crash
/// and the corpus replay in the unit tests fails loudly; the message says which property broke.
/// It never includes the input: a crash file holds that already.
public enum FuzzCheck {
    /// Which input is running, where a caller knows (the corpus replay names the seed file).
    @TaskLocal public static var input: String?

    static func require(_ condition: @autoclosure () -> Bool, _ property: @autoclosure () -> String) {
        if !condition() { fatalError("fuzz invariant violated: \(property())" + (input.map { " (input \($0))" } ?? "")) }
    }
}
